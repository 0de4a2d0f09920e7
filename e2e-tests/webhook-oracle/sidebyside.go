package main

import (
	"fmt"
	"sort"
	"strings"
)

// Side by side (docs/migration.md): while both the webhook and the policy are registered, a Pod
// goes through one and then the other. SideBySide measures what the second does to a Pod the
// first already mutated, in both orders, as a short description of what it added ("" for
// nothing).
func (o *Oracle) SideBySide(c *Case) (policyAfterWebhook, webhookAfterPolicy string, err error) {
	settings, err := o.Settings(WebhookConfig{Flags: c.Flags, ConfigMap: c.ConfigMap, Identities: c.Identities})
	if err != nil {
		return "", "", fmt.Errorf("settings: %w", err)
	}
	webhook, err := RunWebhook(c, o.RandSeed)
	if err != nil {
		return "", "", err
	}
	second := c.clone()
	second.Pod = webhook.Pod
	policyThen, err := o.Engine.Evaluate(second, settings)
	if err != nil {
		return "", "", err
	}
	policy, err := o.Engine.Evaluate(c, settings)
	if err != nil {
		return "", "", err
	}
	second = c.clone()
	second.Pod = policy.Pod
	webhookThen, err := RunWebhook(second, o.RandSeed)
	if err != nil {
		return "", "", err
	}
	return additions(webhook.Pod, policyThen.Pod), additions(policy.Pod, webhookThen.Pod), nil
}

// additions names what after has that before lacks: env variables, mounts and volumes by name,
// labels by key; "" when nothing was added. Containers are matched by position (neither side
// adds, removes or reorders containers; names may repeat or be missing in generated Pods), and
// names are counted, since a container may carry a name twice.
func additions(before, after map[string]any) string {
	var added []string
	for _, kind := range []string{"initContainers", "containers"} {
		old := list(obj(before, "spec"), kind)
		for i, item := range list(obj(after, "spec"), kind) {
			container, _ := item.(map[string]any)
			var was map[string]any
			if i < len(old) {
				was, _ = old[i].(map[string]any)
			}
			added = append(added, newNames(list(was, "env"), list(container, "env"), "env ")...)
			added = append(added, newNames(list(was, "volumeMounts"), list(container, "volumeMounts"), "mount ")...)
		}
	}
	added = append(added, newNames(list(obj(before, "spec"), "volumes"), list(obj(after, "spec"), "volumes"), "volume ")...)
	oldLabels := obj(obj(before, "metadata"), "labels")
	for key, value := range obj(obj(after, "metadata"), "labels") {
		if oldLabels[key] != value {
			added = append(added, "label "+key)
		}
	}
	sort.Strings(added)
	return strings.Join(dedupe(added), ", ")
}

func newNames(before, after []any, what string) []string {
	had := map[string]int{}
	for _, item := range before {
		entry, _ := item.(map[string]any)
		had[str(entry, "name")]++
	}
	var names []string
	for _, item := range after {
		entry, _ := item.(map[string]any)
		name := str(entry, "name")
		if had[name] > 0 {
			had[name]--
			continue
		}
		names = append(names, what+name)
	}
	return names
}

func dedupe(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
