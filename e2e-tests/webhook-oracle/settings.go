package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/amazon-eks-pod-identity-webhook/pkg"
)

// WebhookConfig is everything the webhook is configured with: its command line, its ConfigMap's
// `config` and its container-credentials identities file. It is the input of the step that turns
// a webhook deployment into the policy's settings.
type WebhookConfig struct {
	Flags      []string        `json:"flags"`
	ConfigMap  string          `json:"configMap,omitempty"`
	Identities json.RawMessage `json:"identities,omitempty"`
}

// SettingsFunc is the "webhook configuration → policy settings" step. PolicySettings is the one
// built in; `-converter PATH` replaces it with the project's converter (webhook-migrate), so that
// the webhook configured with the originals and the policy with the converted settings are
// compared (issue 30's proof of equality).
type SettingsFunc func(WebhookConfig) (map[string]any, error)

// ConverterRefused is the converter's refusal of an input (exit 1): a case the converter cannot
// carry over, reported with its message rather than compared.
type ConverterRefused struct{ Message string }

func (r *ConverterRefused) Error() string { return "the converter refuses it: " + r.Message }

// ConverterCommand runs `webhook-migrate convert --settings-only` on the configuration as a user
// would hand it over: the ConfigMap as a manifest in the webhook's namespace, the identities file
// with --identities, the flags after `--`.
func ConverterCommand(path string) SettingsFunc {
	return func(cfg WebhookConfig) (map[string]any, error) {
		f, err := ParseWebhookFlags(cfg.Flags)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "webhook-oracle-convert-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		args := []string{"convert", "--settings-only"}
		if f.WatchConfigMap && cfg.ConfigMap != "" {
			manifest, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "pod-identity-webhook", "namespace": f.Namespace},
				"data":     map[string]any{"config": cfg.ConfigMap}})
			if err != nil {
				return nil, err
			}
			file := filepath.Join(dir, "configmap.json")
			if err := os.WriteFile(file, manifest, 0o644); err != nil {
				return nil, err
			}
			args = append(args, file)
		}
		if f.CCConfigPath != "" {
			file := filepath.Join(dir, "identities.json")
			if err := os.WriteFile(file, cfg.Identities, 0o644); err != nil {
				return nil, err
			}
			args = append(args, "--identities", file)
		}
		cmd := exec.Command(path, append(append(args, "--"), cfg.Flags...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		output, err := cmd.Output()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 {
			return nil, &ConverterRefused{strings.TrimSpace(stderr.String())}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
		}
		var settings map[string]any
		if err := json.Unmarshal(output, &settings); err != nil {
			return nil, fmt.Errorf("%s printed no settings object: %v", path, err)
		}
		return settings, nil
	}
}

// PolicySettings maps the webhook's flags, ConfigMap and identities file to the policy's
// settings (README's settings table), one setting per flag:
//
//	--annotation-prefix                        annotationPrefix
//	--token-audience                           tokenAudience
//	--token-expiration                         tokenExpiration (raised to 600, as main.go does)
//	--token-mount-path                         tokenMountPath
//	--aws-default-region                       awsDefaultRegion
//	--sts-regional-endpoint                    stsRegionalEndpoints
//	--watch-config-map + the ConfigMap         serviceAccountRoles (fields the entry has)
//	--watch-container-credentials-config       containerCredentials.identities
//	--container-credentials-*                  containerCredentials.{audience,mountPath,…}
//
// Flags that do not change a mutation (TLS, ports, in-cluster, resync) have no setting.
func PolicySettings(cfg WebhookConfig) (map[string]any, error) {
	f, err := ParseWebhookFlags(cfg.Flags)
	if err != nil {
		return nil, err
	}
	settings := map[string]any{
		"annotationPrefix":     f.AnnotationPrefix,
		"tokenAudience":        f.TokenAudience,
		"tokenExpiration":      pkg.ValidateMinTokenExpiration(f.TokenExpiration),
		"tokenMountPath":       f.TokenMountPath,
		"awsDefaultRegion":     f.AWSDefaultRegion,
		"stsRegionalEndpoints": f.RegionalSTS,
	}
	if f.WatchConfigMap && cfg.ConfigMap != "" {
		roles, err := configMapRoles(cfg.ConfigMap)
		if err != nil {
			return nil, err
		}
		if len(roles) > 0 {
			settings["serviceAccountRoles"] = roles
		}
	}
	if f.CCConfigPath != "" {
		identities := []any{}
		seen := map[string]bool{}
		if len(bytes.TrimSpace(cfg.Identities)) > 0 {
			var file struct {
				Identities []struct {
					Namespace      string `json:"namespace"`
					ServiceAccount string `json:"serviceAccount"`
				} `json:"identities"`
			}
			if err := json.Unmarshal(cfg.Identities, &file); err != nil {
				return nil, fmt.Errorf("identities file: %v", err)
			}
			for _, id := range file.Identities {
				key := id.Namespace + "/" + id.ServiceAccount
				// The webhook keeps a set; the policy refuses a repeated identity.
				if seen[key] {
					continue
				}
				seen[key] = true
				identities = append(identities, map[string]any{
					"namespace": id.Namespace, "serviceAccount": id.ServiceAccount})
			}
		}
		settings["containerCredentials"] = map[string]any{
			"identities": identities,
			"fullUri":    f.CCFullURI,
			"audience":   f.CCAudience,
			"mountPath":  f.CCMountPath,
			"volumeName": f.CCVolumeName,
			"tokenPath":  f.CCTokenPath,
		}
	}
	return settings, nil
}

// configMapRoles reads the ConfigMap's `config` as the webhook does (encoding/json into its cache
// entries: field names matched case-insensitively) and keeps, for each entry, the fields it has.
func configMapRoles(config string) (map[string]any, error) {
	var entries map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(config), &entries); err != nil {
		// The webhook logs the error and maps nothing.
		return nil, nil
	}
	roles := map[string]any{}
	for key, entry := range entries {
		mapping := map[string]any{}
		for name, raw := range entry {
			var value any
			if err := json.Unmarshal(raw, &value); err != nil || value == nil {
				continue
			}
			switch strings.ToLower(name) {
			case "rolearn":
				mapping["roleArn"] = value
			case "audience":
				mapping["audience"] = value
			case "useregionalsts":
				mapping["stsRegionalEndpoints"] = value
			case "tokenexpiration":
				seconds, ok := value.(float64)
				switch {
				case !ok || seconds == 0:
					// The webhook takes 0 for the flag's default, as an absent field.
				case seconds < float64(pkg.MinTokenExpiration):
					// The settings refuse what the API server would refuse.
					mapping["tokenExpiration"] = pkg.MinTokenExpiration
				default:
					mapping["tokenExpiration"] = int64(seconds)
				}
			}
		}
		roles[key] = mapping
	}
	return roles, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
