package main

import (
	"encoding/json"
)

// Shrink makes a failing case as small as it stays failing: it drops flags, ServiceAccount
// annotations, ConfigMap entries, identities and every part of the Pod (map keys, list items) one
// at a time, keeping each removal after which the case still shows a difference no class
// explains, until nothing more can go.
func Shrink(o *Oracle, c *Case) *Case {
	fails := func(candidate *Case) bool {
		v, err := o.Check(candidate)
		return err == nil && v.Unexplained != ""
	}
	budget := 2000
	for progress := true; progress && budget > 0; {
		progress = false
		for _, candidate := range smaller(c) {
			if budget--; budget < 0 {
				break
			}
			if fails(candidate) {
				c, progress = candidate, true
				break
			}
		}
	}
	return c
}

// smaller lists the cases with one part less.
func smaller(c *Case) []*Case {
	var out []*Case
	for i := range c.Flags {
		s := c.clone()
		s.Flags = append(s.Flags[:i:i], s.Flags[i+1:]...)
		out = append(out, s)
	}
	if c.ServiceAccount != nil {
		for key := range c.ServiceAccount.Annotations {
			s := c.clone()
			delete(s.ServiceAccount.Annotations, key)
			out = append(out, s)
		}
	}
	var entries map[string]json.RawMessage
	if json.Unmarshal([]byte(c.ConfigMap), &entries) == nil {
		for key := range entries {
			s := c.clone()
			rest := map[string]json.RawMessage{}
			for k, v := range entries {
				if k != key {
					rest[k] = v
				}
			}
			data, _ := json.Marshal(rest)
			s.ConfigMap = string(data)
			out = append(out, s)
		}
	}
	var ids struct {
		Identities []json.RawMessage `json:"identities"`
	}
	if json.Unmarshal(c.Identities, &ids) == nil {
		for i := range ids.Identities {
			s := c.clone()
			rest := append(append([]json.RawMessage{}, ids.Identities[:i]...), ids.Identities[i+1:]...)
			s.Identities, _ = json.Marshal(map[string]any{"identities": rest})
			out = append(out, s)
		}
	}
	// Every map key and list item of the Pod but its apiVersion and kind.
	var walk func(path []any, v any)
	walk = func(path []any, v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, key := range sortedKeys(v) {
				if len(path) == 0 && (key == "apiVersion" || key == "kind" || key == "spec") {
					walk(append(path, key), v[key])
					continue
				}
				s := c.clone()
				if parent, ok := at(s.Pod, path).(map[string]any); ok {
					delete(parent, key)
					out = append(out, s)
				}
				walk(append(append([]any{}, path...), key), v[key])
			}
		case []any:
			for i := range v {
				s := c.clone()
				if parent, ok := at(s.Pod, path).([]any); ok {
					setAt(s.Pod, path, append(parent[:i:i], parent[i+1:]...))
					out = append(out, s)
				}
				walk(append(append([]any{}, path...), i), v[i])
			}
		}
	}
	walk(nil, c.Pod)
	return out
}

func at(root any, path []any) any {
	v := root
	for _, step := range path {
		switch step := step.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[step]
		case int:
			l, _ := v.([]any)
			if step >= len(l) {
				return nil
			}
			v = l[step]
		}
	}
	return v
}

func setAt(root map[string]any, path []any, value any) {
	parent := at(root, path[:len(path)-1])
	switch step := path[len(path)-1].(type) {
	case string:
		if m, ok := parent.(map[string]any); ok {
			m[step] = value
		}
	case int:
		if l, ok := parent.([]any); ok && step < len(l) {
			l[step] = value
		}
	}
}
