package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// Canonical is the one form both sides' Pods are compared in: through the typed corev1.Pod (what
// the API server would store: unknown fields gone, quantities and defaults as Go writes them),
// then with empty values dropped, since an empty list, an empty object and an absent field mean
// the same Pod (the webhook writes `containers` back even when it had none).
func Canonical(raw []byte) (map[string]any, error) {
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		return nil, err
	}
	typed, err := json.Marshal(&pod)
	if err != nil {
		return nil, err
	}
	// Numbers stay as written (json.Number): a lifetime near 2^63 must survive being handed on
	// (side by side) and compare exactly.
	decoder := json.NewDecoder(bytes.NewReader(typed))
	decoder.UseNumber()
	var generic map[string]any
	if err := decoder.Decode(&generic); err != nil {
		return nil, err
	}
	pruned, _ := prune(generic).(map[string]any)
	if pruned == nil {
		pruned = map[string]any{}
	}
	return pruned, nil
}

func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, item := range v {
			if p := prune(item); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = prune(item)
			if out[i] == nil {
				// A list keeps its positions: an empty item is an empty object.
				out[i] = map[string]any{}
			}
		}
		return out
	default:
		return v
	}
}

func equalPods(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

func pretty(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return buf.String()
}

// deepCopy copies a generic JSON value.
func deepCopy(v map[string]any) map[string]any {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}

// diffPaths lists the JSON paths where a and b differ, for the report.
func diffPaths(a, b any, path string, out *[]string) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			diffPaths(am[k], bm[k], path+"/"+k, out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			diffPaths(al[i], bl[i], fmt.Sprintf("%s/%d", path, i), out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	*out = append(*out, fmt.Sprintf("%s: webhook %s, policy %s", path, ja, jb))
}
