//! `/docs`: the JSON API described for people, rendered from the generated
//! OpenAPI document ([`crate::api::openapi::document_json`]), so it shows
//! exactly the routes the service has. Plain HTML from our own origin: it
//! works offline, with no CDN and no Swagger UI.

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use serde_json::{Map, Value};

use super::Layout;
use super::error::PageError;
use crate::api::openapi::document_json;
use crate::app::AppState;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A piece of a type: text, linked to a schema's section when it names one.
struct TypePart {
    text: String,
    link: Option<String>,
}

/// A piece of prose: plain, or `code` (between backticks in the source).
struct Span {
    text: String,
    code: bool,
}

/// Prose with its `code` spans marked, the only markup descriptions use.
fn rich(text: &str) -> Vec<Span> {
    text.split('`')
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| Span {
            text: t.to_owned(),
            code: i % 2 == 1,
        })
        .collect()
}

struct Param {
    name: String,
    location: String,
    required: bool,
    ty: Vec<TypePart>,
    description: Vec<Span>,
}

struct Field {
    name: String,
    ty: Vec<TypePart>,
    required: bool,
    description: Vec<Span>,
}

struct Response {
    status: String,
    description: Vec<Span>,
    content_type: Option<String>,
    ty: Vec<TypePart>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    summary: Vec<Span>,
    /// Paragraphs after the summary.
    description: Vec<Vec<Span>>,
    needs_token: bool,
    params: Vec<Param>,
    request_type: Vec<TypePart>,
    request_content: Option<String>,
    responses: Vec<Response>,
    curl: String,
}

struct Tag {
    name: String,
    description: Vec<Span>,
    operations: Vec<Operation>,
}

/// One shape of a schema; a schema with `oneOf` has several.
struct Variant {
    title: Vec<Span>,
    fields: Vec<Field>,
}

struct Schema {
    name: String,
    description: Vec<Span>,
    variants: Vec<Variant>,
    /// For schemas that are not objects: what they are.
    ty: Vec<TypePart>,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    layout: Layout,
    title: String,
    version: String,
    description: Vec<Span>,
    base: String,
    tags: Vec<Tag>,
    schemas: Vec<Schema>,
}

/// `GET /docs`.
pub async fn docs(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let doc = document_json();
    let base = state.config.base_url().trim_end_matches('/').to_owned();
    let page = DocsPage {
        layout: Layout::new("API"),
        title: text(&doc["info"]["title"]),
        version: text(&doc["info"]["version"]),
        description: rich(&text(&doc["info"]["description"])),
        tags: tags(doc, &base),
        schemas: schemas(doc),
        base,
    };
    Ok(Html(page.render()?))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

fn plain(text: &str) -> Vec<TypePart> {
    vec![TypePart {
        text: text.to_owned(),
        link: None,
    }]
}

/// The schema a `$ref` names, if it is one of ours.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
}

fn schema_anchor(name: &str) -> String {
    format!("schema-{name}")
}

/// A schema as a short type: `Chat`, `array of Message`, `integer or null`.
fn type_of(schema: &Value) -> Vec<TypePart> {
    if let Some(name) = ref_name(schema) {
        return vec![TypePart {
            text: name.to_owned(),
            link: Some(schema_anchor(name)),
        }];
    }
    for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            // `T or null` reads better than `null or T`.
            let is_null = |p: &&Value| p.get("type").and_then(Value::as_str) == Some("null");
            let mut out = Vec::new();
            for part in parts.iter().filter(|p| !is_null(p)) {
                if !out.is_empty() {
                    out.extend(plain(joiner));
                }
                out.extend(type_of(part));
            }
            if !out.is_empty() && parts.iter().any(|p| is_null(&p)) {
                out.extend(plain(" or null"));
            }
            if !out.is_empty() {
                return out;
            }
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return plain(if schema.get("properties").is_some() {
            "object"
        } else {
            "any"
        });
    }
    let mut out = Vec::new();
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            out.extend(plain(" or "));
        }
        match *t {
            "array" => {
                out.extend(plain("array of "));
                out.extend(type_of(&schema["items"]));
            }
            "integer" | "number" => match schema.get("format").and_then(Value::as_str) {
                Some(f) => out.extend(plain(&format!("{t} ({f})"))),
                None => out.extend(plain(t)),
            },
            other => out.extend(plain(other)),
        }
    }
    out
}

/// The fields of an object schema, `allOf` parts and references merged.
fn fields_of(doc: &Value, schema: &Value, out: &mut Vec<Field>) {
    if let Some(name) = ref_name(schema) {
        fields_of(doc, &doc["components"]["schemas"][name], out);
        return;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            fields_of(doc, part, out);
        }
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.push(Field {
                name: name.clone(),
                ty: type_of(prop),
                required: required.contains(&name.as_str()),
                description: rich(&describe(prop)),
            });
        }
    }
}

/// A property's description, with its example or fixed values.
fn describe(prop: &Value) -> String {
    let mut out = text(&prop["description"]);
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        push_sentence(&mut out, &format!("One of {}.", values.join(", ")));
    } else if let Some(example) = prop.get("example") {
        push_sentence(&mut out, &format!("Example: {example}."));
    }
    out
}

fn push_sentence(out: &mut String, sentence: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(sentence);
}

fn schemas(doc: &Value) -> Vec<Schema> {
    let Some(all) = doc["components"]["schemas"].as_object() else {
        return Vec::new();
    };
    let mut out: Vec<Schema> = all
        .iter()
        .map(|(name, schema)| {
            let variants = match schema.get("oneOf").and_then(Value::as_array) {
                Some(shapes) => shapes
                    .iter()
                    .map(|shape| {
                        let mut fields = Vec::new();
                        fields_of(doc, shape, &mut fields);
                        Variant {
                            title: rich(&text(&shape["description"])),
                            fields,
                        }
                    })
                    .collect(),
                None => {
                    let mut fields = Vec::new();
                    fields_of(doc, schema, &mut fields);
                    if fields.is_empty() {
                        Vec::new()
                    } else {
                        vec![Variant {
                            title: Vec::new(),
                            fields,
                        }]
                    }
                }
            };
            Schema {
                name: name.clone(),
                description: rich(&text(&schema["description"])),
                ty: if variants.is_empty() {
                    type_of(schema)
                } else {
                    Vec::new()
                },
                variants,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn tags(doc: &Value, base: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Tag {
            name: text(&t["name"]),
            description: rich(&text(&t["description"])),
            operations: Vec::new(),
        })
        .collect();
    let empty = Map::new();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let operation = operation(doc, method, path, op, base);
            match tags.iter_mut().find(|t| t.name == tag) {
                Some(t) => t.operations.push(operation),
                None => tags.push(Tag {
                    name: tag,
                    description: Vec::new(),
                    operations: vec![operation],
                }),
            }
        }
    }
    tags.retain(|t| !t.operations.is_empty());
    tags
}

fn operation(doc: &Value, method: &str, path: &str, op: &Value, base: &str) -> Operation {
    let needs_token = op["security"].as_array().is_some_and(|s| !s.is_empty());
    let params: Vec<Param> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Param {
            name: text(&p["name"]),
            location: text(&p["in"]),
            required: p["required"].as_bool().unwrap_or(false),
            ty: type_of(&p["schema"]),
            description: rich(&text(&p["description"])),
        })
        .collect();
    let request = op["requestBody"]["content"]
        .as_object()
        .and_then(|c| c.iter().next());
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let content = r["content"].as_object().and_then(|c| c.iter().next());
            Response {
                status: status.clone(),
                description: match r["description"].as_str() {
                    Some(d) if !d.is_empty() => rich(d),
                    _ if status.starts_with('2') => rich("Success."),
                    _ => Vec::new(),
                },
                content_type: content.map(|(t, _)| t.clone()),
                ty: content
                    .map(|(_, c)| type_of(&c["schema"]))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let description = text(&op["description"]);
    Operation {
        anchor: format!(
            "{method}-{}",
            path.trim_start_matches('/')
                .replace(['/', '{', '}', '.'], "-")
                .trim_end_matches('-')
        ),
        method: method.to_uppercase(),
        path: path.to_owned(),
        summary: rich(&text(&op["summary"])),
        description: description
            .split("\n\n")
            .map(|p| p.replace('\n', " "))
            .filter(|p| !p.trim().is_empty())
            .map(|p| rich(&p))
            .collect(),
        needs_token,
        curl: curl(doc, method, path, op, base, needs_token),
        params,
        request_type: request
            .map(|(_, c)| type_of(&c["schema"]))
            .unwrap_or_default(),
        request_content: request.map(|(t, _)| t.clone()),
        responses,
    }
}

/// An example curl command: path parameters as shell variables, the
/// token as `$TOKEN`, a request body made of the fields' examples.
fn curl(doc: &Value, method: &str, path: &str, op: &Value, base: &str, token: bool) -> String {
    let mut url = String::new();
    let mut rest = path;
    while let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) {
        url.push_str(&rest[..open]);
        url.push('$');
        url.push_str(&rest[open + 1..close].to_uppercase());
        rest = &rest[close + 1..];
    }
    url.push_str(rest);
    let streams = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, r)| r["content"].get("text/event-stream").is_some());
    let mut cmd = String::from("curl -s");
    if streams {
        cmd.push_str(" -N");
    }
    if method != "get" {
        cmd.push_str(&format!(" -X {}", method.to_uppercase()));
    }
    cmd.push_str(&format!(" \"{base}{url}\""));
    if token {
        cmd.push_str(" \\\n  -H \"Authorization: Bearer $TOKEN\"");
    }
    if let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") {
        let mut fields = Vec::new();
        fields_of(doc, schema, &mut fields);
        let mut body = Map::new();
        let resolved = resolve(doc, schema);
        for f in &fields {
            let prop = &resolved["properties"][&f.name];
            body.insert(f.name.clone(), example_of(prop));
        }
        let body = Value::Object(body).to_string().replace('\'', "'\\''");
        cmd.push_str(" \\\n  -H 'content-type: application/json'");
        cmd.push_str(&format!(" \\\n  -d '{body}'"));
    }
    cmd
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match ref_name(schema) {
        Some(name) => &doc["components"]["schemas"][name],
        None => schema,
    }
}

fn example_of(prop: &Value) -> Value {
    if let Some(example) = prop.get("example") {
        return example.clone();
    }
    let ty = match prop.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).next().unwrap_or(""),
        _ => "",
    };
    match ty {
        "integer" | "number" => Value::from(0),
        "boolean" => Value::from(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        _ => Value::from("…"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{curl, type_of};

    fn joined(v: &serde_json::Value) -> String {
        type_of(v).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn types_read_as_words() {
        assert_eq!(
            joined(&json!({"type": ["integer", "null"]})),
            "integer or null"
        );
        assert_eq!(
            joined(&json!({"type": "array", "items": {"$ref": "#/components/schemas/Chat"}})),
            "array of Chat"
        );
        assert_eq!(
            joined(&json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Message"}]})),
            "Message or null"
        );
    }

    #[test]
    fn curl_uses_shell_variables_and_examples() {
        let doc = json!({"components": {"schemas": {"Body": {
            "type": "object",
            "properties": {"phone": {"type": "string", "example": "+44"}}
        }}}});
        let op = json!({
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}},
            "responses": {}
        });
        let cmd = curl(&doc, "post", "/api/v1/x/{flow_id}", &op, "http://h", true);
        assert!(
            cmd.starts_with("curl -s -X POST \"http://h/api/v1/x/$FLOW_ID\""),
            "{cmd}"
        );
        assert!(cmd.contains("Bearer $TOKEN"), "{cmd}");
        assert!(cmd.contains(r#"-d '{"phone":"+44"}'"#), "{cmd}");
    }
}
