package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Verdict is what one case shows.
type Verdict struct {
	// Classes are the documented differences the case shows (none: both answers are the same).
	Classes []string
	// Unexplained describes a difference no class explains; empty when there is none.
	Unexplained string
}

// Oracle evaluates cases on both sides.
type Oracle struct {
	Engine   Engine
	Settings SettingsFunc
	// RandSeed seeds the webhook's token-expiration jitter (handler.NewModifier's rand).
	RandSeed int64
	// Converted: Settings is the converter, so classes of the built-in step do not apply.
	Converted bool
}

func same(a, b Outcome) bool {
	return a.Allowed == b.Allowed && a.Patched == b.Patched && reflect.DeepEqual(a.Pod, b.Pod)
}

// Check runs the case through the policy and the webhook and classifies any difference.
func (o *Oracle) Check(c *Case) (Verdict, error) {
	settings, err := o.Settings(WebhookConfig{Flags: c.Flags, ConfigMap: c.ConfigMap, Identities: c.Identities})
	if err != nil {
		return Verdict{}, fmt.Errorf("settings: %w", err)
	}
	policy, err := o.Engine.Evaluate(c, settings)
	if err != nil {
		return Verdict{}, err
	}
	webhook, err := RunWebhook(c, o.RandSeed)
	if err != nil {
		return Verdict{}, err
	}
	if same(webhook, policy) {
		return Verdict{}, nil
	}
	f, err := ParseWebhookFlags(c.Flags)
	if err != nil {
		return Verdict{}, err
	}
	var applied []Class
	for _, class := range Classes {
		if class.Applies(c, f) && !(class.BuiltInSettings && o.Converted) {
			applied = append(applied, class)
		}
	}
	expected, err := o.rewritten(c, f, applied)
	if err != nil {
		return Verdict{}, err
	}
	var post []string
	if o.jitterExplains(c, f, applied, &expected, policy) {
		post = append(post, jitterClass.Name)
	}
	if expected.Patched && !policy.Patched && reflect.DeepEqual(expected.Pod, mustCanonical(c)) {
		expected.Patched = false
		post = append(post, noopPatchClass.Name)
	}
	if !same(expected, policy) {
		return Verdict{Unexplained: describe(webhook, policy, expected, applied)}, nil
	}
	// Name the classes that matter here: those whose rewrite alone changes the webhook's answer.
	var names []string
	for _, class := range applied {
		alone, err := o.rewritten(c, f, []Class{class})
		if err != nil {
			return Verdict{}, err
		}
		if !same(alone, webhook) {
			names = append(names, class.Name)
		}
	}
	if len(names) == 0 {
		for _, class := range applied {
			names = append(names, class.Name)
		}
	}
	return Verdict{Classes: append(names, post...)}, nil
}

// rewritten is the webhook's answer to the case rewritten by the classes, restored.
func (o *Oracle) rewritten(c *Case, f WebhookFlags, classes []Class) (Outcome, error) {
	cf := c.clone()
	for _, class := range classes {
		if class.NotCalled {
			return Outcome{Allowed: true, Pod: mustCanonical(c)}, nil
		}
		class.Rewrite(cf, f)
	}
	out, err := RunWebhook(cf, o.RandSeed)
	if err != nil {
		return out, err
	}
	for i := len(classes) - 1; i >= 0; i-- {
		if classes[i].Restore != nil {
			classes[i].Restore(c, out.Pod)
		}
	}
	// Restoring may leave emptied objects behind; compare in the one canonical form.
	pruned, _ := prune(out.Pod).(map[string]any)
	out.Pod = pruned
	return out, nil
}

// jitterExplains: with container credentials and a lifetime of exactly 86400 s, the webhook draws
// the lifetime from its rand and the policy derives it from request.uid, both in [79200, 86400].
// The rule holds when the webhook's own value moves with its rand seed (so it was drawn) and the
// policy's is in the range; the webhook's value is then replaced by the policy's.
func (o *Oracle) jitterExplains(c *Case, f WebhookFlags, applied []Class, expected *Outcome, policy Outcome) bool {
	theirs, ok := tokenExpiration(expected.Pod, f.CCVolumeName)
	if !ok {
		return false
	}
	ours, ok := tokenExpiration(policy.Pod, f.CCVolumeName)
	if !ok || ours < float64(pkg79200) || ours > 86400 || ours == theirs {
		return false
	}
	drawn := false
	for _, seed := range []int64{o.RandSeed + 1, o.RandSeed + 2} {
		other := *o
		other.RandSeed = seed
		again, err := other.rewritten(c, f, applied)
		if err != nil {
			return false
		}
		if value, ok := tokenExpiration(again.Pod, f.CCVolumeName); ok && value != theirs {
			drawn = true
		}
	}
	if !drawn {
		return false
	}
	setTokenExpiration(expected.Pod, f.CCVolumeName, ours)
	return true
}

const pkg79200 = 79200

func projected(pod map[string]any, volume string) map[string]any {
	for _, item := range list(obj(pod, "spec"), "volumes") {
		v, _ := item.(map[string]any)
		if str(v, "name") != volume {
			continue
		}
		sources := list(obj(v, "projected"), "sources")
		if len(sources) == 0 {
			return nil
		}
		source, _ := sources[0].(map[string]any)
		return obj(source, "serviceAccountToken")
	}
	return nil
}

func tokenExpiration(pod map[string]any, volume string) (float64, bool) {
	number, ok := projected(pod, volume)["expirationSeconds"].(json.Number)
	if !ok {
		return 0, false
	}
	seconds, err := number.Float64()
	return seconds, err == nil
}

func setTokenExpiration(pod map[string]any, volume string, seconds float64) {
	if token := projected(pod, volume); token != nil {
		token["expirationSeconds"] = json.Number(strconv.FormatInt(int64(seconds), 10))
	}
}

func mustCanonical(c *Case) map[string]any {
	pod, err := Canonical(c.podBytes())
	if err != nil {
		panic(fmt.Sprintf("the case's Pod is not a Pod: %v", err))
	}
	return pod
}

func describe(webhook, policy, expected Outcome, applied []Class) string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook: allowed=%t patch=%t %s\n", webhook.Allowed, webhook.Patched, webhook.Message)
	fmt.Fprintf(&b, "policy:  allowed=%t patch=%t %s\n", policy.Allowed, policy.Patched, policy.Message)
	if len(applied) > 0 {
		var names []string
		for _, class := range applied {
			names = append(names, class.Name)
		}
		fmt.Fprintf(&b, "classes that apply (still different after them): %s\n", strings.Join(names, ", "))
	}
	var paths []string
	diffPaths(expected.Pod, policy.Pod, "", &paths)
	for _, p := range paths {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}
