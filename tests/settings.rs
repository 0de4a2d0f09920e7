//! BEHAVIOUR.md §2: defaults, `null` as default, and every mistake rejected
//! with a message that names the field.

use aws_pod_identity_policy::settings::{ContainerCredentials, Settings};
use aws_pod_identity_policy::settings_response;
use serde_json::{Value, json};

fn check(settings: &Value) -> Result<(), String> {
    let response = settings_response(&serde_json::to_vec(settings).unwrap());
    match (response.valid, response.message) {
        (true, None) => Ok(()),
        (false, Some(message)) => Err(message),
        other => panic!("inconsistent response {other:?}"),
    }
}

#[test]
fn empty_settings_are_the_documented_defaults() {
    let settings = Settings::from_json(&json!({})).unwrap();
    assert_eq!(settings, Settings::default());
    assert_eq!(settings.annotation_prefix, "eks.amazonaws.com");
    assert_eq!(settings.token_audience, "sts.amazonaws.com");
    assert_eq!(
        (
            settings.token_expiration,
            settings.min_token_expiration,
            settings.max_token_expiration
        ),
        (86400, 600, None)
    );
    assert_eq!(
        settings.token_mount_path,
        "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    );
    assert!(
        settings.lookup_service_accounts
            && settings.cache_service_accounts
            && !settings.sts_regional_endpoints
    );
    assert_eq!(settings.container_credentials, None);
    assert_eq!(check(&json!({})), Ok(()));
    assert_eq!(check(&Value::Null), Ok(()));
}

#[test]
fn null_means_the_default_at_every_level() {
    let settings = Settings::from_json(&json!({"tokenExpiration": null, "annotationPrefix": null, "serviceAccountRoles": {"a/b": {"roleArn": "r", "audience": null}},
        "containerCredentials": {"fullUri": null, "identities": null}})).unwrap();
    assert_eq!(settings.token_expiration, 86400);
    assert_eq!(settings.annotation_prefix, "eks.amazonaws.com");
    assert_eq!(settings.service_account_roles["a/b"].audience, None);
    assert_eq!(
        settings.container_credentials,
        Some(ContainerCredentials::default())
    );
}

#[test]
fn valid_settings_are_accepted() {
    for settings in [
        json!({"annotationPrefix": "example.com", "tokenAudience": "x", "tokenExpiration": 3600, "minTokenExpiration": 900, "maxTokenExpiration": 3600,
            "tokenMountPath": "/aws", "awsDefaultRegion": "eu-west-1", "stsRegionalEndpoints": true, "lookupServiceAccounts": false, "cacheServiceAccounts": false,
            "serviceAccountRoles": {"*/app": {"roleArn": "arn:aws:iam::111122223333:role/a", "audience": "", "stsRegionalEndpoints": false, "tokenExpiration": 900}}}),
        json!({"containerCredentials": {"identities": [{"namespace": "a", "serviceAccount": "b"}, {"namespace": "a", "serviceAccount": "c"}],
            "fullUri": "http://[fd00:ec2::23]/v1/credentials", "audience": "pods.eks.amazonaws.com", "mountPath": "/x", "volumeName": "v", "tokenPath": "t"}}),
        json!({"containerCredentials": {}}),
        json!({"disableInstanceMetadata": true, "containerCredentials": {}}),
    ] {
        assert_eq!(check(&settings), Ok(()), "{settings}");
    }
}

#[test]
fn every_settings_mistake_is_rejected_naming_the_field() {
    let cc = |fields: Value| json!({"containerCredentials": fields});
    let mut wrong = Vec::new();
    for (settings, field) in [
        (
            json!({"tokenExpirations": 1}),
            "tokenExpirations: unknown field `tokenExpirations`",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {"roleArn": "r", "role": "x"}}}),
            "serviceAccountRoles[\"a/b\"].role: unknown field `role`",
        ),
        (
            cc(json!({"uri": "x"})),
            "containerCredentials.uri: unknown field `uri`",
        ),
        (
            cc(json!({"identities": [{"namespace": "a", "serviceAccount": "b", "x": 1}]})),
            "containerCredentials.identities[0].x: unknown field `x`",
        ),
        (
            json!({"tokenExpiration": "3600"}),
            "tokenExpiration: invalid type",
        ),
        (
            json!({"tokenExpiration": 3600.5}),
            "tokenExpiration: invalid type",
        ),
        (
            json!({"lookupServiceAccounts": "false"}),
            "lookupServiceAccounts: invalid type: string \"false\", expected a boolean",
        ),
        (
            json!({"disableInstanceMetadata": "true"}),
            "disableInstanceMetadata: invalid type: string \"true\", expected a boolean",
        ),
        (
            json!({"annotationPrefix": 1}),
            "annotationPrefix: invalid type: integer `1`, expected a string",
        ),
        (
            json!({"serviceAccountRoles": []}),
            "serviceAccountRoles: invalid type: sequence, expected a map",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": "arn"}}),
            "serviceAccountRoles[\"a/b\"]: invalid type: string \"arn\", expected struct RoleMapping",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {"roleArn": "r", "tokenExpiration": "1"}}}),
            "serviceAccountRoles[\"a/b\"].tokenExpiration: invalid type: string \"1\", expected i64",
        ),
        (
            cc(json!({"identities": {}})),
            "containerCredentials.identities: invalid type: map, expected a sequence",
        ),
        (
            json!({"containerCredentials": true}),
            "containerCredentials: invalid type: boolean `true`, expected struct ContainerCredentials",
        ),
        (
            json!({"tokenExpiration": 599}),
            "tokenExpiration: must be at least minTokenExpiration",
        ),
        (
            json!({"minTokenExpiration": 599}),
            "minTokenExpiration: must be at least 600",
        ),
        (
            json!({"minTokenExpiration": 1200, "maxTokenExpiration": 900}),
            "maxTokenExpiration: must not be below minTokenExpiration",
        ),
        (
            json!({"maxTokenExpiration": 3600}),
            "tokenExpiration: must be at most maxTokenExpiration",
        ),
        (
            json!({"minTokenExpiration": 90000}),
            "tokenExpiration: must be at least minTokenExpiration",
        ),
        (
            json!({"tokenMountPath": "var/run"}),
            "tokenMountPath: must be an absolute path",
        ),
        (
            json!({"serviceAccountRoles": {"app": {"roleArn": "r"}}}),
            "serviceAccountRoles[\"app\"]: the key must be",
        ),
        (
            json!({"serviceAccountRoles": {"a/b/c": {"roleArn": "r"}}}),
            "serviceAccountRoles[\"a/b/c\"]: the key must be",
        ),
        (
            json!({"serviceAccountRoles": {"/b": {"roleArn": "r"}}}),
            "serviceAccountRoles[\"/b\"]: the key must be",
        ),
        (
            json!({"serviceAccountRoles": {"a/": {"roleArn": "r"}}}),
            "serviceAccountRoles[\"a/\"]: the key must be",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {"roleArn": ""}}}),
            "serviceAccountRoles[\"a/b\"].roleArn: must not be empty",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {}}}),
            "serviceAccountRoles[\"a/b\"].roleArn: must not be empty",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {"roleArn": "r", "tokenExpiration": 60}}}),
            "serviceAccountRoles[\"a/b\"].tokenExpiration: must be at least",
        ),
        (
            json!({"maxTokenExpiration": 3600, "tokenExpiration": 3600, "serviceAccountRoles": {"a/b": {"roleArn": "r", "tokenExpiration": 7200}}}),
            "serviceAccountRoles[\"a/b\"].tokenExpiration: must be at most",
        ),
        (json!({"annotationPrefix": ""}), "annotationPrefix:"),
        (json!({"annotationPrefix": "EKS.com"}), "annotationPrefix:"),
        (
            json!({"annotationPrefix": "eks.amazonaws.com/"}),
            "annotationPrefix:",
        ),
        (
            cc(json!({"mountPath": "relative"})),
            "containerCredentials.mountPath: must be an absolute path",
        ),
        (
            cc(json!({"volumeName": ""})),
            "containerCredentials.volumeName: must not be empty",
        ),
        (
            cc(json!({"tokenPath": ""})),
            "containerCredentials.tokenPath: must not be empty",
        ),
        (
            cc(json!({"ipv6EndpointMode": true})),
            "containerCredentials.ipv6EndpointMode: needs a fullUri whose host is an IPv6 address, got \"http://169.254.170.23/v1/credentials\"",
        ),
        (
            cc(json!({"fullUri": "169.254.170.23/v1/credentials"})),
            "containerCredentials.fullUri: must be an http",
        ),
        (
            cc(json!({"fullUri": "ftp://host/x"})),
            "containerCredentials.fullUri: must be an http",
        ),
        (
            cc(json!({"identities": [{"namespace": "", "serviceAccount": "b"}]})),
            "containerCredentials.identities[0].namespace: must not be empty",
        ),
        (
            cc(json!({"identities": [{"namespace": "a"}]})),
            "containerCredentials.identities[0].serviceAccount: must not be empty",
        ),
        (
            cc(
                json!({"identities": [{"namespace": "a", "serviceAccount": "b"}, {"namespace": "a", "serviceAccount": "b"}]}),
            ),
            "containerCredentials.identities[1]: a/b is listed twice",
        ),
        (json!([]), "settings: invalid type, expected an object"),
    ] {
        match check(&settings) {
            Err(message) if message.contains(field) => {}
            Err(message) => wrong.push(format!("{settings}: {message:?} lacks {field:?}")),
            Ok(()) => wrong.push(format!("{settings} was accepted")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn settings_that_are_not_json_are_invalid_not_an_error() {
    let response = settings_response(b"{not json");
    assert!(!response.valid);
    assert!(
        response
            .message
            .unwrap()
            .starts_with("settings are not valid JSON")
    );
}

#[test]
fn null_reads_as_the_default_for_every_field_at_every_level() {
    let every_top_level_field_null: serde_json::Map<String, Value> =
        aws_pod_identity_policy::settings::SETTING_NAMES
            .iter()
            .map(|name| ((*name).to_owned(), Value::Null))
            .collect();
    assert_eq!(
        Settings::from_json(&Value::Object(every_top_level_field_null)),
        Ok(Settings::default())
    );
    let cc_fields_null: serde_json::Map<String, Value> =
        aws_pod_identity_policy::settings::CONTAINER_CREDENTIALS_FIELDS
            .iter()
            .map(|name| ((*name).to_owned(), Value::Null))
            .collect();
    let settings = Settings::from_json(&json!({
        "containerCredentials": cc_fields_null,
        "serviceAccountRoles": {"a/b": {"roleArn": "r", "audience": null, "stsRegionalEndpoints": null, "tokenExpiration": null}},
    }))
    .unwrap();
    assert_eq!(
        settings.container_credentials,
        Some(ContainerCredentials::default())
    );
    let mapping = &settings.service_account_roles["a/b"];
    assert_eq!(
        (
            mapping.audience.as_deref(),
            mapping.sts_regional_endpoints,
            mapping.token_expiration
        ),
        (None, None, None)
    );
    let identity = Settings::from_json(
        &json!({"containerCredentials": {"identities": [{"namespace": null, "serviceAccount": "b"}]}}),
    );
    assert_eq!(
        identity.unwrap().container_credentials.unwrap().identities[0].namespace,
        ""
    );
    assert_eq!(
        check(
            &json!({"containerCredentials": {"identities": [{"namespace": null, "serviceAccount": "b"}]}})
        ),
        Err("containerCredentials.identities[0].namespace: must not be empty".to_owned())
    );
}

#[test]
fn a_wrong_type_deep_inside_a_mapping_names_its_whole_path() {
    let mut wrong = Vec::new();
    for (settings, message) in [
        (
            json!({"serviceAccountRoles": {"team-a/app": {"roleArn": "r", "stsRegionalEndpoints": "yes"}}}),
            "serviceAccountRoles[\"team-a/app\"].stsRegionalEndpoints: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"serviceAccountRoles": {"*/app": {"roleArn": ["r"]}}}),
            "serviceAccountRoles[\"*/app\"].roleArn: invalid type: sequence, expected a string",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": {"roleArn": "r", "audience": {"x": 1}}}}),
            "serviceAccountRoles[\"a/b\"].audience: invalid type: map, expected a string",
        ),
        (
            json!({"serviceAccountRoles": {"a/b": null}}),
            "serviceAccountRoles[\"a/b\"]: invalid type: null, expected struct RoleMapping",
        ),
        (
            json!({"containerCredentials": {"identities": [{"namespace": "a", "serviceAccount": "b"}, {"namespace": 7, "serviceAccount": "c"}]}}),
            "containerCredentials.identities[1].namespace: invalid type: integer `7`, expected a string",
        ),
        (
            json!({"containerCredentials": {"identities": [null]}}),
            "containerCredentials.identities[0]: invalid type: null, expected struct ServiceAccountRef",
        ),
        (
            json!({"allowedRoleArns": ["arn:aws:iam::*:role/a", 3]}),
            "allowedRoleArns[1]: invalid type: integer `3`, expected a string",
        ),
        (
            json!({"roleSessionName": "pod"}),
            "roleSessionName: unknown variant `pod`, expected `none` or `podName`",
        ),
        (
            json!({"tokenExpirations": 1}),
            "tokenExpirations: unknown field `tokenExpirations`, expected one of `annotationPrefix`, `tokenAudience`, `tokenExpiration`, `minTokenExpiration`, `maxTokenExpiration`, `tokenMountPath`, `awsDefaultRegion`, `stsRegionalEndpoints`, `lookupServiceAccounts`, `cacheServiceAccounts`, `serviceAccountRoles`, `containerCredentials`, `allowPodRoleArn`, `allowedRoleArns`, `roleSessionName`, `disableInstanceMetadata`, `onConflict`, `mode`",
        ),
        (
            json!({"containerCredentials": {"identities": [{"namespace": "a", "serviceAccount": "b", "x": 1}]}}),
            "containerCredentials.identities[0].x: unknown field `x`, expected `namespace` or `serviceAccount`",
        ),
    ] {
        let got = check(&settings);
        if got != Err(message.to_owned()) {
            wrong.push(format!("{settings}: {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The names serde lists as expected in its unknown-field message: the derived struct's own fields.
fn fields_serde_expects(settings: Value) -> Vec<String> {
    let message = Settings::from_json(&settings).unwrap_err();
    let expected = message.split("expected ").nth(1).unwrap_or_default();
    let expected = expected.trim_start_matches("one of ").replace(" or ", ", ");
    expected
        .split(", ")
        .map(|name| name.trim_matches('`').to_owned())
        .collect()
}

#[test]
fn each_field_list_is_exactly_what_its_struct_reads() {
    use aws_pod_identity_policy::settings::{
        CONTAINER_CREDENTIALS_FIELDS, IDENTITY_FIELDS, ROLE_MAPPING_FIELDS, SETTING_NAMES,
    };
    let unknown = json!({"no-such-field": 1});
    for (list, settings) in [
        (SETTING_NAMES, unknown.clone()),
        (
            CONTAINER_CREDENTIALS_FIELDS,
            json!({"containerCredentials": unknown}),
        ),
        (
            ROLE_MAPPING_FIELDS,
            json!({"serviceAccountRoles": {"a/b": unknown}}),
        ),
        (
            IDENTITY_FIELDS,
            json!({"containerCredentials": {"identities": [unknown]}}),
        ),
    ] {
        assert_eq!(fields_serde_expects(settings.clone()), list, "{settings}");
    }
}
