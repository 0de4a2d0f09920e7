package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/aws/amazon-eks-pod-identity-webhook/pkg"
)

// A Class is a documented difference between the policy and the webhook (docs/differences.md),
// recognised by rule: the rule rewrites the case into the one the webhook would have to be given
// to do what the policy does on purpose, and restores in the webhook's Pod what that rewriting
// changed outside the mutation. A difference is explained when the webhook, given the rewritten
// case, gives the policy's answer; nothing else is forgiven.
type Class struct {
	// Name is how the report and docs/differences.md name the class.
	Name    string
	Applies func(c *Case, f WebhookFlags) bool
	// Rewrite edits the webhook's input; Restore undoes in the webhook's Pod what Rewrite
	// changed in the Pod itself (an annotation, a node selector), from the original case.
	Rewrite func(c *Case, f WebhookFlags)
	Restore func(orig *Case, pod map[string]any)
	// NotCalled: the webhook is never called for such a Pod where it is deployed (its
	// objectSelector), so the expected answer is the Pod unchanged.
	NotCalled bool
	// BuiltInSettings: the difference comes from how PolicySettings writes a ConfigMap entry
	// (fields left to the policy's defaults, a lifetime raised to 600); the converter writes
	// every field or refuses the entry, so with -converter the class is not forgiven.
	BuiltInSettings bool
}

// Classes in the order their rewrites are applied.
var Classes = []Class{
	{
		Name: "skip-label", NotCalled: true,
		Applies: func(c *Case, f WebhookFlags) bool {
			labels := obj(obj(c.Pod, "metadata"), "labels")
			_, ok := labels[f.AnnotationPrefix+"/skip-pod-identity-webhook"]
			return ok
		},
	},
	{
		Name: "default-serviceaccount",
		Applies: func(c *Case, _ WebhookFlags) bool {
			return str(obj(c.Pod, "spec"), "serviceAccountName") == ""
		},
		Rewrite: func(c *Case, _ WebhookFlags) {
			ensure(c.Pod, "spec")["serviceAccountName"] = policySAName(c.Pod)
		},
		Restore: func(orig *Case, pod map[string]any) {
			delete(obj(pod, "spec"), "serviceAccountName")
		},
	},
	{
		Name: "os-name-windows",
		Applies: func(c *Case, _ WebhookFlags) bool {
			spec := obj(c.Pod, "spec")
			selector := obj(spec, "nodeSelector")
			return str(obj(spec, "os"), "name") == "windows" &&
				str(selector, "kubernetes.io/os") != "windows" &&
				str(selector, "beta.kubernetes.io/os") != "windows"
		},
		Rewrite: func(c *Case, _ WebhookFlags) {
			ensure(ensure(c.Pod, "spec"), "nodeSelector")["kubernetes.io/os"] = "windows"
		},
		Restore: func(orig *Case, pod map[string]any) {
			spec := obj(pod, "spec")
			selector := obj(spec, "nodeSelector")
			if value, ok := obj(obj(orig.Pod, "spec"), "nodeSelector")["kubernetes.io/os"]; ok {
				selector["kubernetes.io/os"] = value
			} else {
				delete(selector, "kubernetes.io/os")
				if len(selector) == 0 {
					delete(spec, "nodeSelector")
				}
			}
		},
	},
	{
		Name: "trimmed-container-names",
		Applies: func(c *Case, f WebhookFlags) bool {
			record, ok := containerList(c, f, "skip-containers")
			if !ok {
				return false
			}
			for _, name := range record {
				if name != strings.Trim(name, " ") || name == "" {
					return true
				}
			}
			return false
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			record, _ := containerList(c, f, "skip-containers")
			setAnnotation(c, f, "skip-containers", csvLine(trimmed(record)))
		},
		Restore: restoreAnnotation("skip-containers"),
	},
	{
		Name: "include-containers",
		Applies: func(c *Case, f WebhookFlags) bool {
			_, ok := containerList(c, f, "include-containers")
			return ok
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			include, _ := containerList(c, f, "include-containers")
			skip, _ := containerList(c, f, "skip-containers")
			names := trimmed(skip)
			included := map[string]bool{}
			for _, name := range trimmed(include) {
				included[name] = true
			}
			for _, kind := range []string{"initContainers", "containers"} {
				for _, item := range list(obj(c.Pod, "spec"), kind) {
					name := str(item.(map[string]any), "name")
					if !included[name] {
						names = append(names, name)
					}
				}
			}
			setAnnotation(c, f, "skip-containers", csvLine(names))
		},
		Restore: restoreAnnotation("skip-containers"),
	},
	{
		Name: "serviceaccount-region",
		Applies: func(c *Case, f WebhookFlags) bool {
			return policySARegion(c, f) != ""
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			c.Flags = append(c.Flags, "--aws-default-region="+policySARegion(c, f))
		},
	},
	{
		// The contract (BEHAVIOUR.md §3.2) reads a ServiceAccount's audience, regional STS and
		// lifetime annotations before a mapping's values; the webhook's cache passes over a
		// ServiceAccount without a role whole and takes its ConfigMap entry as it is.
		Name: "serviceaccount-annotations-over-mapping",
		Applies: func(c *Case, f WebhookFlags) bool {
			key := mappedKey(c, f)
			return key != "" && len(saValues(c, f)) > 0
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			key, values := mappedKey(c, f), saValues(c, f)
			c.ConfigMap = editConfigMap(c, f, func(k string, entry map[string]any) {
				if k != key {
					return
				}
				for lower, value := range values {
					setField(entry, lower, goFieldNames[lower], value)
				}
			})
		},
	},
	{
		Name:            "mappings-fill-absent-fields",
		BuiltInSettings: true,
		Applies: func(c *Case, f WebhookFlags) bool {
			applies := false
			editConfigMap(c, f, func(_ string, entry map[string]any) {
				applies = applies || !has(entry, "audience") || !has(entry, "useregionalsts")
			})
			return applies
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			c.ConfigMap = editConfigMap(c, f, func(_ string, entry map[string]any) {
				if !has(entry, "audience") {
					entry["Audience"] = f.TokenAudience
				}
				if !has(entry, "useregionalsts") {
					entry["UseRegionalSTS"] = f.RegionalSTS
				}
			})
		},
	},
	{
		Name:            "configmap-expiration-below-600",
		BuiltInSettings: true,
		Applies: func(c *Case, f WebhookFlags) bool {
			applies := false
			editConfigMap(c, f, func(_ string, entry map[string]any) {
				seconds := entrySeconds(entry)
				applies = applies || (seconds != 0 && seconds < float64(pkg.MinTokenExpiration))
			})
			return applies
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			c.ConfigMap = editConfigMap(c, f, func(_ string, entry map[string]any) {
				seconds := entrySeconds(entry)
				if seconds != 0 && seconds < float64(pkg.MinTokenExpiration) {
					setField(entry, "tokenexpiration", "TokenExpiration", pkg.MinTokenExpiration)
				}
			})
		},
	},
	{
		Name: "container-credentials-unread-serviceaccount",
		Applies: func(c *Case, f WebhookFlags) bool {
			return f.CCConfigPath != "" && !policyReadsSA(c) &&
				identityListed(c, c.Namespace, policySAName(c.Pod)) && !exactEntry(c, f)
		},
		Rewrite: func(c *Case, f WebhookFlags) {
			// The webhook would then take regional STS and the lifetime from an exact entry, as
			// the policy takes them from the settings (an exact entry that exists is read alike
			// by both, its absent fields aside: mappings-fill-absent-fields).
			key := c.Namespace + "/" + policySAName(c.Pod)
			if !f.WatchConfigMap {
				c.Flags = append(c.Flags, "--watch-config-map")
				c.ConfigMap = "{}"
				f.WatchConfigMap = true
			}
			entries, ok := configMapEntries(c.ConfigMap)
			if !ok {
				entries = map[string]map[string]any{}
			}
			entry := entries[key]
			if entry == nil {
				entry = map[string]any{}
				entries[key] = entry
			}
			if !has(entry, "useregionalsts") {
				entry["UseRegionalSTS"] = f.RegionalSTS
			}
			if seconds := entrySeconds(entry); seconds == 0 {
				setField(entry, "tokenexpiration", "TokenExpiration", pkg.ValidateMinTokenExpiration(f.TokenExpiration))
			}
			data, _ := json.Marshal(entries)
			c.ConfigMap = string(data)
		},
	},
}

// Two classes are recognised on the answers themselves: a lifetime the webhook draws at random
// (compare.go: jitterExplains), and a patch that changes nothing.
var jitterClass = Class{Name: "pod-identity-jitter"}
var noopPatchClass = Class{Name: "no-op-patch"}

func has(entry map[string]any, lower string) bool {
	return field(entry, lower) != nil
}

// field is entry's value for the Go field whose lowercased name is lower: encoding/json matches
// names case-insensitively.
func field(entry map[string]any, lower string) any {
	for name, value := range entry {
		if strings.ToLower(name) == lower {
			return value
		}
	}
	return nil
}

func setField(entry map[string]any, lower, name string, value any) {
	for key := range entry {
		if strings.ToLower(key) == lower {
			delete(entry, key)
		}
	}
	entry[name] = value
}

// editConfigMap calls edit on every entry of the watched ConfigMap and returns it rewritten.
func editConfigMap(c *Case, f WebhookFlags, edit func(key string, entry map[string]any)) string {
	if !f.WatchConfigMap {
		return c.ConfigMap
	}
	entries, ok := configMapEntries(c.ConfigMap)
	if !ok {
		return c.ConfigMap
	}
	for _, key := range sortedKeys(entries) {
		if entries[key] == nil {
			entries[key] = map[string]any{}
		}
		edit(key, entries[key])
	}
	data, _ := json.Marshal(entries)
	return string(data)
}

// containerList is the first record of the annotation as the webhook reads it (encoding/csv), and
// whether the annotation is present and parses.
func containerList(c *Case, f WebhookFlags, name string) ([]string, bool) {
	value, ok := obj(obj(c.Pod, "metadata"), "annotations")[f.AnnotationPrefix+"/"+name].(string)
	if !ok {
		return nil, false
	}
	record, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil && err.Error() != "EOF" {
		return nil, false
	}
	return record, true
}

func trimmed(record []string) []string {
	var out []string
	for _, name := range record {
		if name = strings.Trim(name, " "); name != "" {
			out = append(out, name)
		}
	}
	return out
}

func csvLine(names []string) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(names)
	w.Flush()
	return strings.TrimSuffix(buf.String(), "\n")
}

func setAnnotation(c *Case, f WebhookFlags, name, value string) {
	ensure(ensure(c.Pod, "metadata"), "annotations")[f.AnnotationPrefix+"/"+name] = value
}

func restoreAnnotation(name string) func(orig *Case, pod map[string]any) {
	return func(orig *Case, pod map[string]any) {
		f, _ := ParseWebhookFlags(orig.Flags)
		key := f.AnnotationPrefix + "/" + name
		annotations := obj(obj(pod, "metadata"), "annotations")
		if value, ok := obj(obj(orig.Pod, "metadata"), "annotations")[key]; ok {
			annotations[key] = value
		} else {
			delete(annotations, key)
		}
	}
}

// policyReadsSA: the session answers the policy's read with the case's ServiceAccount.
func policyReadsSA(c *Case) bool {
	sa := c.ServiceAccount
	return sa != nil && sa.Name == policySAName(c.Pod) && sa.Namespace == c.Namespace
}

func policySARegion(c *Case, f WebhookFlags) string {
	if !policyReadsSA(c) {
		return ""
	}
	return c.ServiceAccount.Annotations[f.AnnotationPrefix+"/region"]
}

func identityListed(c *Case, namespace, name string) bool {
	var file struct {
		Identities []struct {
			Namespace      string `json:"namespace"`
			ServiceAccount string `json:"serviceAccount"`
		} `json:"identities"`
	}
	if json.Unmarshal(c.Identities, &file) != nil {
		return false
	}
	for _, id := range file.Identities {
		if id.Namespace == namespace && id.ServiceAccount == name {
			return true
		}
	}
	return false
}

// goFieldNames are the ConfigMap entry's Go field names, by their lowercased form.
var goFieldNames = map[string]string{
	"audience": "Audience", "useregionalsts": "UseRegionalSTS", "tokenexpiration": "TokenExpiration",
}

// mappedKey is the ConfigMap key whose role the webhook uses for the case's web identity (the
// exact entry, else the `*/<sa>` one), or "" when the role does not come from the ConfigMap: the
// ServiceAccount is not read, has a role of its own, or uses container credentials.
func mappedKey(c *Case, f WebhookFlags) string {
	name := policySAName(c.Pod)
	if !f.WatchConfigMap || !policyReadsSA(c) || (f.CCConfigPath != "" && identityListed(c, c.Namespace, name)) ||
		c.ServiceAccount.Annotations[f.AnnotationPrefix+"/role-arn"] != "" {
		return ""
	}
	var entries map[string]map[string]any
	if json.Unmarshal([]byte(c.ConfigMap), &entries) != nil {
		return ""
	}
	for _, key := range []string{c.Namespace + "/" + name, "*/" + name} {
		if entry, ok := entries[key]; ok {
			if role, _ := field(entry, "rolearn").(string); role != "" {
				return key
			}
			return ""
		}
	}
	return ""
}

// saValues are the ServiceAccount's annotations that the policy reads before a mapping's values,
// as the webhook's cache would parse them (strconv.ParseBool, ParseInt base 10, raised to 600).
func saValues(c *Case, f WebhookFlags) map[string]any {
	values := map[string]any{}
	annotations := c.ServiceAccount.Annotations
	if audience, ok := annotations[f.AnnotationPrefix+"/audience"]; ok {
		values["audience"] = audience
	}
	if regional, err := strconv.ParseBool(annotations[f.AnnotationPrefix+"/sts-regional-endpoints"]); err == nil {
		values["useregionalsts"] = regional
	}
	if seconds, err := strconv.ParseInt(annotations[f.AnnotationPrefix+"/token-expiration"], 10, 64); err == nil {
		values["tokenexpiration"] = pkg.ValidateMinTokenExpiration(seconds)
	}
	return values
}

// configMapEntries decodes the ConfigMap's entries keeping numbers as written (json.Number): a
// lifetime such as 9223372036854775807 would not survive a float64 and re-encoded would no longer
// fit the webhook's int64, which then drops the whole ConfigMap.
func configMapEntries(config string) (map[string]map[string]any, bool) {
	decoder := json.NewDecoder(strings.NewReader(config))
	decoder.UseNumber()
	var entries map[string]map[string]any
	if decoder.Decode(&entries) != nil {
		return nil, false
	}
	return entries, true
}

// entrySeconds is the entry's TokenExpiration as a number (0 when absent or not a number).
func entrySeconds(entry map[string]any) float64 {
	switch value := field(entry, "tokenexpiration").(type) {
	case float64:
		return value
	case json.Number:
		seconds, _ := value.Float64()
		return seconds
	}
	return 0
}

// refusalExplained names the documented reason (docs/migration.md) for which the converter refuses
// the case's configuration, or "" when the refusal is not one of them: a ConfigMap `config` that
// is not JSON (the webhook logs it and maps nothing: the user's mappings are lost), or a lifetime
// below 600 s, which the webhook writes into Pods unclamped and the API server then refuses.
func refusalExplained(c *Case, message string) string {
	f, err := ParseWebhookFlags(c.Flags)
	if err != nil {
		return ""
	}
	if f.WatchConfigMap && !json.Valid([]byte(c.ConfigMap)) && strings.Contains(message, "data.config: not valid JSON") {
		return "converter-refuses-malformed-configmap"
	}
	if !strings.Contains(message, ".TokenExpiration: ") || !strings.Contains(message, "is below 600") {
		return ""
	}
	below := false
	editConfigMap(c, f, func(_ string, entry map[string]any) {
		seconds := entrySeconds(entry)
		below = below || (seconds != 0 && seconds < float64(pkg.MinTokenExpiration))
	})
	if !below {
		return ""
	}
	return "converter-refuses-configmap-expiration-below-600"
}

// exactEntry: the watched ConfigMap has an entry for exactly the Pod's namespace and
// ServiceAccount, the one the webhook's GetCommonConfigurations reads.
func exactEntry(c *Case, f WebhookFlags) bool {
	entries, ok := configMapEntries(c.ConfigMap)
	if !f.WatchConfigMap || !ok {
		return false
	}
	_, found := entries[c.Namespace+"/"+policySAName(c.Pod)]
	return found
}
