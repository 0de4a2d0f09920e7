// webhook-oracle holds the policy to the EKS pod-identity-webhook's own code: seeded random cases
// and the webhook's test fixtures go through the policy (in policy-host or kwctl) and through
// the webhook's handler.Modifier.MutatePod, wired as the webhook's main.go wires it, and the two
// resulting Pods are compared. A difference is either a documented class (classes.go,
// docs/differences.md) or a failure, written out as a case file that `-replay` runs alone.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 500, "random cases")
	seed := flag.Int64("seed", 29, "the generator's seed")
	engine := flag.String("engine", "", "kwctl, or policy-host (run once per case unless -batch)")
	module := flag.String("policy", "", "the policy module (.wasm)")
	batch := flag.Bool("batch", false, "the engine is policy-host: evaluate every case in one `policy-host batch`")
	replay := flag.String("replay", "", "run one case file alone and show both Pods")
	failures := flag.String("failures", "webhook-oracle-failures", "where failing cases are written")
	webhookDir := flag.String("webhook-dir", "", "the webhook module's directory, for its fixtures (default: go list -m, in the current directory)")
	converter := flag.String("converter", "", "webhook-migrate's path: its `convert --settings-only` replaces PolicySettings (the converter's proof of equality)")
	randSeed := flag.Int64("rand-seed", 1, "the seed of the webhook's jitter rand")
	sideBySide := flag.Bool("side-by-side", false, "also measure what each side adds to Pods the other already mutated (docs/migration.md)")
	flag.Parse()
	if *engine == "" || *module == "" {
		fmt.Fprintln(os.Stderr, "webhook-oracle: -engine and -policy are required")
		os.Exit(2)
	}
	var eng Engine
	var err error
	if *batch {
		eng, err = newBatchEngine(*engine, *module)
	} else {
		eng, err = newRunEngine(*engine, *module)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhook-oracle: %v\n", err)
		os.Exit(2)
	}
	defer eng.Close()
	oracle := &Oracle{Engine: eng, Settings: PolicySettings, RandSeed: *randSeed}
	if *converter != "" {
		oracle.Settings = ConverterCommand(*converter)
		oracle.Converted = true
	}
	if *replay != "" {
		os.Exit(replayCase(oracle, *replay))
	}
	if *webhookDir == "" {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", webhookModule).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "webhook-oracle: go list -m %s: %v (run it in e2e-tests/webhook-oracle, or give -webhook-dir)\n", webhookModule, err)
			os.Exit(2)
		}
		*webhookDir = strings.TrimSpace(string(out))
	}
	failed := 0
	start := time.Now()
	fmt.Printf("webhook-oracle: %s (%s) against the policy with %s\n", webhookModule, filepath.Base(*webhookDir), *engine)
	if *converter == "" {
		// The fixtures run with the webhook's test configuration (not a deployment's flags):
		// once, with the built-in settings step.
		fixtures, classes, fixtureFailures, err := RunFixtures(oracle, *webhookDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "webhook-oracle: fixtures: %v\n", err)
			os.Exit(2)
		}
		for _, f := range fixtureFailures {
			fmt.Printf("FAIL fixture %s\n", f)
		}
		failed += len(fixtureFailures)
		fmt.Printf("the webhook's fixtures: %d, %d failing; classes: %s\n", fixtures, len(fixtureFailures), tally(classes))
	} else {
		fmt.Printf("settings by the converter: %s convert --settings-only\n", *converter)
	}

	knobs := "REFDIFF_N, REFDIFF_SEED"
	if *converter != "" {
		knobs = "MIGRATION_N, MIGRATION_SEED"
	}
	fmt.Printf("random cases: N=%d seed=%d (make's %s)\n", *n, *seed, knobs)
	counts := map[string]int{}
	equal, randomFailed := 0, 0
	for i := 0; i < *n; i++ {
		c := Generate(*seed, i)
		verdict, err := oracle.Check(c)
		var refused *ConverterRefused
		switch {
		case errors.As(err, &refused) && refusalExplained(c, refused.Message) != "":
			counts[refusalExplained(c, refused.Message)]++
		case err != nil:
			randomFailed++
			c.Difference = "error: " + err.Error()
			fmt.Printf("FAIL %s: %v\n", c.Name, err)
			writeFailure(*failures, i, c)
		case verdict.Unexplained != "":
			randomFailed++
			small := Shrink(oracle, c)
			if v, err := oracle.Check(small); err == nil && v.Unexplained != "" {
				small.Difference = v.Unexplained
			} else {
				small, c.Difference = c, verdict.Unexplained
			}
			path := writeFailure(*failures, i, small)
			fmt.Printf("FAIL %s: a difference no class explains (minimal case: %s; replay: -replay %s)\n%s",
				c.Name, path, path, small.Difference)
		case len(verdict.Classes) == 0:
			equal++
		default:
			for _, class := range verdict.Classes {
				counts[class]++
			}
		}
	}
	fmt.Printf("random cases: %d identical, %d differing by documented classes, %d failing (%.1fs with the fixtures); classes: %s\n",
		equal, *n-equal-randomFailed, randomFailed, time.Since(start).Seconds(), tally(counts))
	failed += randomFailed
	if *sideBySide {
		if err := reportSideBySide(oracle, *seed, *n); err != nil {
			fmt.Fprintf(os.Stderr, "webhook-oracle: side by side: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		fmt.Printf("webhook-oracle: %d failures; CONTRIBUTING.md (The webhook as oracle) says how to read them\n", failed)
		os.Exit(1)
	}
}

const webhookModule = "github.com/aws/amazon-eks-pod-identity-webhook"

func tally(counts map[string]int) string {
	if len(counts) == 0 {
		return "none"
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %d", name, counts[name]))
	}
	return strings.Join(parts, ", ")
}

func writeFailure(dir string, i int, c *Case) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "webhook-oracle: %v\n", err)
		return ""
	}
	path := filepath.Join(dir, fmt.Sprintf("case-%d.json", i))
	if err := saveCase(path, c); err != nil {
		fmt.Fprintf(os.Stderr, "webhook-oracle: %v\n", err)
	}
	return path
}

// replayCase runs one case file and shows everything: the settings, both Pods, the verdict.
func replayCase(o *Oracle, path string) int {
	c, err := loadCase(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhook-oracle: %v\n", err)
		return 2
	}
	settings, err := o.Settings(WebhookConfig{Flags: c.Flags, ConfigMap: c.ConfigMap, Identities: c.Identities})
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhook-oracle: settings: %v\n", err)
		return 2
	}
	fmt.Printf("# %s\n# the policy's settings:\n%s", c.Name, pretty(settings))
	if webhook, err := RunWebhook(c, o.RandSeed); err == nil {
		fmt.Printf("# the webhook: allowed=%t patch=%t %s; its Pod:\n%s", webhook.Allowed, webhook.Patched, webhook.Message, pretty(webhook.Pod))
	} else {
		fmt.Printf("# the webhook: %v\n", err)
	}
	if policy, err := o.Engine.Evaluate(c, settings); err == nil {
		fmt.Printf("# the policy: allowed=%t patch=%t %s; its Pod:\n%s", policy.Allowed, policy.Patched, policy.Message, pretty(policy.Pod))
	} else {
		fmt.Printf("# the policy: %v\n", err)
	}
	verdict, err := o.Check(c)
	switch {
	case err != nil:
		fmt.Printf("# FAIL: %v\n", err)
		return 1
	case verdict.Unexplained != "":
		fmt.Printf("# FAIL: a difference no class explains\n%s", verdict.Unexplained)
		return 1
	case len(verdict.Classes) > 0:
		fmt.Printf("# documented differences: %s\n", strings.Join(verdict.Classes, ", "))
	default:
		fmt.Println("# identical")
	}
	return 0
}

// reportSideBySide prints, for the same random cases, how often the policy adds something to a
// Pod the webhook mutated, and the webhook to a Pod the policy mutated, by the documented classes
// the case shows on its own (docs/migration.md quotes it): where both decide alike, the second
// adds nothing.
func reportSideBySide(o *Oracle, seed int64, n int) error {
	orders := [2]map[string]int{{}, {}}
	skipped, measured := 0, 0
	for i := 0; i < n; i++ {
		c := Generate(seed, i)
		afterWebhook, afterPolicy, err := o.SideBySide(c)
		var refused *ConverterRefused
		if errors.As(err, &refused) {
			skipped++
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %v", c.Name, err)
		}
		verdict, err := o.Check(c)
		if err != nil {
			return fmt.Errorf("%s: %v", c.Name, err)
		}
		why := strings.Join(verdict.Classes, " + ")
		if why == "" {
			why = "no documented difference"
		}
		measured++
		for k, added := range []string{afterWebhook, afterPolicy} {
			if added == "" {
				continue
			}
			orders[k][why]++
			if len(verdict.Classes) == 0 {
				// Both decide alike, so the second must find everything in place.
				return fmt.Errorf("%s: the second adds %s to what the first wrote, though both decide alike", c.Name, added)
			}
		}
	}
	fmt.Printf("side by side, N=%d seed=%d (%d the converter refuses left out):\n", measured, seed, skipped)
	for k, title := range []string{"the webhook first, then the policy adds something", "the policy first, then the webhook adds something"} {
		total := 0
		for _, count := range orders[k] {
			total += count
		}
		fmt.Printf("  %s: %d of %d Pods; where the case shows\n", title, total, measured)
		for _, why := range sortedKeys(orders[k]) {
			fmt.Printf("    %5d  %s\n", orders[k][why], why)
		}
	}
	return nil
}
