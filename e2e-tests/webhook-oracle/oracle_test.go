package main

import (
	"reflect"
	"testing"
)

// The webhook side alone: every generated case goes through it without an error, the same case
// twice gives the same Pod (the jitter is seeded), and a case survives its case file.
func TestWebhookSideIsDeterministic(t *testing.T) {
	mutated := 0
	for i := 0; i < 500; i++ {
		c := Generate(29, i)
		first, err := RunWebhook(c, 1)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		again, err := RunWebhook(c.clone(), 1)
		if err != nil || !reflect.DeepEqual(first, again) {
			t.Fatalf("%s: two runs differ: %v", c.Name, err)
		}
		if first.Patched {
			mutated++
		}
		if _, err := PolicySettings(WebhookConfig{Flags: c.Flags, ConfigMap: c.ConfigMap, Identities: c.Identities}); err != nil {
			t.Fatalf("%s: settings: %v", c.Name, err)
		}
	}
	// The generator is useless if the webhook rarely mutates what it draws.
	if mutated < 200 {
		t.Fatalf("the webhook mutated only %d of 500 cases", mutated)
	}
	t.Logf("the webhook mutated %d of 500 cases", mutated)
}
