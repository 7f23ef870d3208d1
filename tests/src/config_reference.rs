//! `docs/CONFIG.md`, generated from the code: every configuration key with its type, default
//! and documentation, from [`EngineConfig::json_schema`] (the doc comments of the config
//! structs) and [`EngineConfig::default`].

use netsentinel_core::EngineConfig;
use serde_json::Value;

/// One key of the reference.
pub struct KeyDoc {
    /// Dotted path (`detectors.port_scan.enabled`; `[]` for the items of a list).
    pub path: String,
    /// JSON type(s) or allowed values.
    pub kind: String,
    /// Default value as JSON, empty inside lists.
    pub default: String,
    /// The field's documentation.
    pub description: String,
}

/// Follows `$ref` (also inside `allOf`) to the definition it names.
fn resolve<'a>(node: &'a Value, defs: &'a Value) -> &'a Value {
    if let Some(name) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        && let Some(def) = defs.get(name)
    {
        return def;
    }
    if let Some(first) = node.get("allOf").and_then(|a| a.get(0)) {
        return resolve(first, defs);
    }
    node
}

fn kind_of(node: &Value, defs: &Value) -> String {
    let target = resolve(node, defs);
    if let Some(values) = target.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| v.to_string().replace('"', "`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(alts) = target.get("oneOf").and_then(Value::as_array) {
        let consts: Vec<String> = alts
            .iter()
            .filter_map(|a| {
                a.get("const")
                    .or_else(|| a.get("enum").and_then(|e| e.get(0)))
            })
            .map(|v| v.to_string().replace('"', "`"))
            .collect();
        if !consts.is_empty() {
            return consts.join(" or ");
        }
    }
    match target.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = target
                .get("items")
                .map(|i| kind_of(i, defs))
                .unwrap_or_default();
            format!("array of {item}")
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => match target.get("anyOf").and_then(Value::as_array) {
            Some(alts) => alts
                .iter()
                .map(|a| kind_of(a, defs))
                .collect::<Vec<_>>()
                .join(" or "),
            None => "any".into(),
        },
    }
}

fn walk(node: &Value, defs: &Value, defaults: Option<&Value>, prefix: &str, out: &mut Vec<KeyDoc>) {
    let Some(props) = resolve(node, defs)
        .get("properties")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, prop) in props {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let target = resolve(prop, defs);
        let default = defaults.and_then(|d| d.get(key));
        if target.get("properties").is_some() {
            walk(target, defs, default, &path, out);
            continue;
        }
        let description = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        out.push(KeyDoc {
            path: path.clone(),
            kind: kind_of(prop, defs),
            default: default.map(Value::to_string).unwrap_or_default(),
            description,
        });
        // A list of objects: its items' keys too.
        if let Some(items) = target.get("items")
            && resolve(items, defs).get("properties").is_some()
        {
            walk(items, defs, None, &format!("{path}[]"), out);
        }
    }
}

/// Every key, in the order of the configuration structs.
pub fn keys() -> Vec<KeyDoc> {
    let schema = EngineConfig::json_schema();
    let defaults = serde_json::to_value(EngineConfig::default()).unwrap_or_default();
    let defs = schema.get("$defs").cloned().unwrap_or_default();
    let mut out = Vec::new();
    walk(&schema, &defs, Some(&defaults), "", &mut out);
    out
}

/// The text of `docs/CONFIG.md`.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Configuration reference\n\n\
         Generated from the code by `cargo run -q -p netsentinel-tests --bin config-reference > docs/CONFIG.md`\n\
         (the doc comments of the configuration structs and their defaults); a test fails when\n\
         this file is stale. Give a configuration with `--config FILE` (JSON): every key is\n\
         optional and takes the default below when absent; an unknown key or a value out of\n\
         range is refused with an error naming the key. The JSON Schema of the file is\n\
         `netsentinel_core::EngineConfig::json_schema()`.\n\n\
         | key | type | default | description |\n|---|---|---|---|\n",
    );
    let cell = |t: &str| t.replace('|', "\\|");
    for k in keys() {
        let default = if k.default.is_empty() {
            String::new()
        } else {
            format!("`{}`", cell(&k.default))
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.path,
            cell(&k.kind),
            default,
            cell(&k.description)
        ));
    }
    s
}
