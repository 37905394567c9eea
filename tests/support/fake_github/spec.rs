//! GitHub's OpenAPI description (the committed subset) turned into what the fake needs:
//! a route table matching concrete paths to operations, JSON-Schema validators for request
//! bodies and query parameters, response validators for the self-test, and the published
//! response examples the fake uses as templates so its answers carry GitHub's real fields.
//!
//! Reads only `tests/fixtures/openapi/github-subset.json` (compiled in); never touches state.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::Method;
use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

const SUBSET: &str = include_str!("../../fixtures/openapi/github-subset.json");

/// Path parameters whose value may itself contain `/` (GitHub accepts them unescaped).
const GREEDY_PARAMS: &[&str] = &["path", "branch", "tree_sha"];

pub struct Spec {
    doc: Value,
    /// `components.schemas` with OpenAPI-only constructs rewritten to JSON Schema.
    schemas: Value,
    pub routes: Vec<Route>,
}

pub struct Route {
    pub method: Method,
    pub template: String,
    segments: Vec<Segment>,
    pub doc_url: String,
    pub body: Option<BodySpec>,
    pub query: Vec<QueryParam>,
}

pub struct BodySpec {
    pub required: bool,
    schema: Value,
    /// Compiled on first use: compiling all of them up front costs every test ~1 s.
    compiled: OnceLock<Validator>,
}

impl BodySpec {
    pub fn validator(&self) -> &Validator {
        self.compiled.get_or_init(|| spec().validator(&self.schema))
    }
}

pub struct QueryParam {
    pub name: String,
    pub required: bool,
    pub integer: bool,
    pub boolean: bool,
    pub validator: Validator,
}

enum Segment {
    Literal(String),
    Param {
        name: String,
        numeric: bool,
        greedy: bool,
    },
}

/// The operation a request hit and its decoded path parameters.
pub struct Matched<'a> {
    pub route: &'a Route,
    pub params: BTreeMap<String, String>,
}

impl Matched<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn num(&self, name: &str) -> u64 {
        self.param(name).parse().unwrap_or_default()
    }
}

pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| Arc::new(Spec::load())).clone()
}

impl Spec {
    fn load() -> Spec {
        let doc: Value = serde_json::from_str(SUBSET).expect("github-subset.json is valid JSON");
        let schemas = openapi_to_json_schema(&doc["components"]["schemas"]);
        let mut spec = Spec {
            doc,
            schemas,
            routes: Vec::new(),
        };
        let paths = spec.doc["paths"].as_object().expect("paths").clone();
        for (template, item) in &paths {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let method: Method = method.to_uppercase().parse().expect("HTTP method");
                let route = spec.route(method, template, op);
                spec.routes.push(route);
            }
        }
        spec
    }

    fn route(&self, method: Method, template: &str, op: &Value) -> Route {
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param {
                        name: name.to_string(),
                        numeric: name.ends_with("_number") || name.ends_with("_id"),
                        greedy: GREEDY_PARAMS.contains(&name),
                    },
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        let body = op.get("requestBody").map(|rb| {
            let rb = self.resolve(rb);
            let schema = &rb["content"]["application/json"]["schema"];
            BodySpec {
                required: rb["required"].as_bool().unwrap_or(false),
                schema: schema.clone(),
                compiled: OnceLock::new(),
            }
        });
        let query = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "query")
            .map(|p| {
                let ty = p["schema"]["type"].as_str().unwrap_or("string");
                QueryParam {
                    name: p["name"].as_str().unwrap_or_default().to_string(),
                    required: p["required"].as_bool().unwrap_or(false),
                    integer: ty == "integer",
                    boolean: ty == "boolean",
                    // Parameter schemas are self-contained: no components needed.
                    validator: jsonschema::options()
                        .with_draft(Draft::Draft4)
                        .build(&openapi_to_json_schema(&p["schema"]))
                        .expect("parameter schema compiles"),
                }
            })
            .collect();
        Route {
            method,
            template: template.to_string(),
            segments,
            doc_url: op["externalDocs"]["url"]
                .as_str()
                .unwrap_or("https://docs.github.com/rest")
                .to_string(),
            body,
            query,
        }
    }

    /// Follows a `$ref` into `#/components/...` (one level is all the description uses here).
    pub fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .map(|n| self.resolve(n))
                .unwrap_or(&Value::Null),
            None => node,
        }
    }

    /// A validator for an OpenAPI schema; `$ref`s resolve against the rewritten components.
    pub fn validator(&self, schema: &Value) -> Validator {
        let root = json!({
            "allOf": [openapi_to_json_schema(schema)],
            "components": { "schemas": self.schemas },
        });
        jsonschema::options()
            .with_draft(Draft::Draft4)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&root)
            .expect("subset schemas compile")
    }

    /// The validator for the JSON body of a `status` answer of an operation (self-test use).
    pub fn response_validator(&self, method: &Method, template: &str, status: u16) -> Validator {
        let op = &self.doc["paths"][template][method.as_str().to_lowercase()];
        let response = self.resolve(&op["responses"][status.to_string()]);
        self.validator(&response["content"]["application/json"]["schema"])
    }

    /// Adds every required property the published example lacks (examples lag the schemas),
    /// so the fake's answers satisfy the response schema of the operation.
    pub fn conform(&self, method: &Method, template: &str, status: u16, body: &mut Value) {
        let op = &self.doc["paths"][template][method.as_str().to_lowercase()];
        let response = self.resolve(&op["responses"][status.to_string()]);
        let schema = &response["content"]["application/json"]["schema"];
        if !schema.is_null() {
            self.fill(schema, body, 0);
        }
    }

    fn fill(&self, schema: &Value, value: &mut Value, depth: usize) {
        let schema = self.resolve(schema);
        if depth > 12 || value.is_null() {
            return;
        }
        if let Some(parts) = schema["allOf"].as_array() {
            for part in parts {
                self.fill(part, value, depth + 1);
            }
        }
        match value {
            Value::Object(map) => {
                let props = &schema["properties"];
                for req in schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(req) {
                        map.insert(req.to_string(), self.default_for(&props[req], depth + 1));
                    }
                }
                if let Some(props) = props.as_object() {
                    for (name, sub) in props {
                        if let Some(v) = map.get_mut(name) {
                            self.fill(sub, v, depth + 1);
                        }
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.fill(&schema["items"], item, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn default_for(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if schema["nullable"] == Value::Bool(true) || depth > 12 {
            return Value::Null;
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        if let Some(first) = schema["allOf"].as_array().and_then(|a| a.first()) {
            return self.default_for(first, depth + 1);
        }
        match schema["type"].as_str() {
            Some("string") => match schema["format"].as_str() {
                Some("date-time") => json!("1970-01-01T00:00:00Z"),
                Some("uri") => json!("https://example.invalid/"),
                _ => json!(""),
            },
            Some("integer" | "number") => json!(0),
            Some("boolean") => json!(false),
            Some("array") => json!([]),
            Some("object") | None => {
                let mut v = json!({});
                self.fill(schema, &mut v, depth + 1);
                v
            }
            Some(_) => Value::Null,
        }
    }

    /// A published response example (`components.examples[name].value`), used as a template.
    pub fn example(&self, name: &str) -> Value {
        let value = self.doc["components"]["examples"][name]["value"].clone();
        assert!(!value.is_null(), "no example {name} in the subset");
        value
    }

    /// GitHub accepts POST wherever it accepts PATCH (octocrab relies on this for
    /// comment edits), so a POST with no POST operation falls back to the PATCH one.
    pub fn match_route(&self, method: &Method, path: &str) -> Option<Matched<'_>> {
        self.match_exact(method, path).or_else(|| {
            (method == Method::POST)
                .then(|| self.match_exact(&Method::PATCH, path))
                .flatten()
        })
    }

    fn match_exact(&self, method: &Method, path: &str) -> Option<Matched<'_>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|r| r.method == *method)
            .filter_map(|r| r.matches(&parts).map(|params| (r, params)))
            // A literal segment beats a parameter (`issues/comments/1` vs `issues/{n}`).
            .max_by_key(|(r, _)| r.literals())
            .map(|(route, params)| Matched { route, params })
    }
}

impl Route {
    fn literals(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    fn matches(&self, parts: &[&str]) -> Option<BTreeMap<String, String>> {
        let mut params = BTreeMap::new();
        let mut i = 0;
        for (n, seg) in self.segments.iter().enumerate() {
            let part = parts.get(i)?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param {
                    name,
                    numeric,
                    greedy,
                } => {
                    let value = if *greedy && n + 1 == self.segments.len() {
                        let rest = parts[i..].join("/");
                        i = parts.len() - 1;
                        rest
                    } else {
                        (*part).to_string()
                    };
                    let value = percent_decode(&value);
                    if value.is_empty() || (*numeric && !value.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return None;
                    }
                    params.insert(name.clone(), value);
                }
            }
            i += 1;
        }
        (i == parts.len()).then_some(params)
    }
}

pub fn percent_decode(s: &str) -> String {
    decode(s, false)
}

/// Query strings use `+` for a space; paths do not.
pub fn query_decode(s: &str) -> String {
    decode(s, true)
}

fn decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if plus_as_space && bytes[i] == b'+' {
            b' '
        } else {
            bytes[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Rewrites OpenAPI 3.0 schema dialect into JSON Schema: `nullable: true` becomes a type
/// union with `null` (and admits `null` in an `enum`); everything else passes through.
pub fn openapi_to_json_schema(node: &Value) -> Value {
    match node {
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| {
                    // Property names and example payloads are data, not schemas, but
                    // rewriting them is harmless: they contain no `nullable` schema keys.
                    (k.clone(), openapi_to_json_schema(v))
                })
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::Array(values)) = out.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".into(), json!([t, "null"]));
                    }
                    Some(Value::Array(mut ts)) => {
                        ts.push(json!("null"));
                        out.insert("type".into(), Value::Array(ts));
                    }
                    _ => return json!({ "anyOf": [Value::Object(out), { "type": "null" }] }),
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}
