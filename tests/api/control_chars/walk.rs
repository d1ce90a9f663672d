//! Walking the schema by introspection: every ID and String slot (an argument, or an
//! input field under one) of the root types, and an operation that puts a chosen value
//! there with every other required value plausible.

use serde_json::{Map, Value, json};

use crate::helpers::{ADMIN_KEY, Fixture, TestApp};

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

/// The schema as introspection shows it: every type by name.
pub struct Schema(Map<String, Value>);

impl Schema {
    pub async fn read(app: &TestApp) -> Self {
        let query = format!(
            "{{ __schema {{ types {{ name kind enumValues {{ name }} inputFields {{ name type {{ {TYPE_REF} }} }} \
             fields {{ name args {{ name type {{ {TYPE_REF} }} }} type {{ {TYPE_REF} }} }} }} }} }}"
        );
        let data = app.ok(ADMIN_KEY, &query, json!({})).await;
        let types = data["__schema"]["types"].as_array().expect("types").iter();
        Schema(types.map(|t| (t["name"].as_str().unwrap().to_string(), t.clone())).collect())
    }

    fn ty(&self, name: &str) -> &Value {
        &self.0[name]
    }
}

/// The named type under lists and non-nulls.
fn named(t: &Value) -> &str {
    match t["name"].as_str() {
        Some(name) => name,
        None => named(&t["ofType"]),
    }
}

/// The type as written in a variable definition (`[ID!]!`).
fn written(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", written(&t["ofType"])),
        Some("LIST") => format!("[{}]", written(&t["ofType"])),
        _ => t["name"].as_str().unwrap().to_string(),
    }
}

/// Where a string goes: the argument, then input fields down to it.
#[derive(Clone, Debug)]
pub struct Slot {
    pub root: &'static str,
    pub field: String,
    pub path: Vec<String>,
    pub scalar: String,
}

/// Every ID and String slot of the root type's fields (arguments and input fields).
pub fn slots(schema: &Schema, root: &'static str) -> Vec<Slot> {
    let mut out = Vec::new();
    for field in schema.ty(root)["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        for arg in field["args"].as_array().unwrap() {
            let path = vec![arg["name"].as_str().unwrap().to_string()];
            walk(schema, root, name, path, &arg["type"], &mut out);
        }
    }
    out
}

fn walk(schema: &Schema, root: &'static str, field: &str, path: Vec<String>, t: &Value, out: &mut Vec<Slot>) {
    let name = named(t);
    match name {
        "ID" | "String" => out.push(Slot { root, field: field.into(), path, scalar: name.into() }),
        _ if schema.ty(name)["kind"] == "INPUT_OBJECT" && path.len() < 4 => {
            for input in schema.ty(name)["inputFields"].as_array().unwrap() {
                let mut deeper = path.clone();
                deeper.push(input["name"].as_str().unwrap().to_string());
                walk(schema, root, field, deeper, &input["type"], out);
            }
        }
        _ => {}
    }
}

/// A plausible value of type `t` for a field called `name`, with `bad` at `path`.
fn fill(schema: &Schema, f: &Fixture, name: &str, t: &Value, path: &[String], bad: &str) -> Value {
    if t["kind"] == "NON_NULL" {
        return fill(schema, f, name, &t["ofType"], path, bad);
    }
    if t["kind"] == "LIST" {
        return json!([fill(schema, f, name, &t["ofType"], path, bad)]);
    }
    let ty = schema.ty(named(t));
    if ty["kind"] == "INPUT_OBJECT" {
        let mut object = Map::new();
        for input in ty["inputFields"].as_array().unwrap() {
            let field = input["name"].as_str().unwrap();
            let on_path = path.first().is_some_and(|p| p == field);
            if on_path || input["type"]["kind"] == "NON_NULL" {
                let rest = if on_path { &path[1..] } else { &[][..] };
                let bad = if on_path { bad } else { "" };
                object.insert(field.into(), fill(schema, f, field, &input["type"], rest, bad));
            }
        }
        return Value::Object(object);
    }
    if path.is_empty() && !bad.is_empty() {
        return json!(bad);
    }
    if ty["kind"] == "ENUM" {
        return ty["enumValues"][0]["name"].clone();
    }
    match (named(t), name) {
        ("ID", "practiceId") => json!(f.practice),
        ("ID", "patientId") => json!(f.patient),
        ("ID", "providerId") => json!(f.provider),
        ("ID", _) => json!(f.patient),
        ("String", "url") => json!("http://127.0.0.1:9/hooks"),
        ("String", "timezone") => json!("America/New_York"),
        ("String", "currency") => json!("USD"),
        ("String", "email") => json!("a@example.com"),
        ("String", "key") => json!(f.subscriber),
        ("String", "after") => Value::Null,
        ("String", _) => json!("Text"),
        ("Int", "amountCents") => json!(100),
        ("Int", "durationMinutes") => json!(30),
        ("Int", _) => json!(1),
        ("Float", _) => json!(1.0),
        ("Boolean", _) => json!(false),
        ("DateTime", _) => json!("2030-01-01T10:00:00Z"),
        ("Date", _) => json!("2000-01-01"),
        _ => Value::Null,
    }
}

/// The operation that puts `bad` into `slot`, with its variables.
pub fn operation(schema: &Schema, f: &Fixture, slot: &Slot, bad: &str) -> (String, Value) {
    let root = schema.ty(slot.root);
    let field = root["fields"].as_array().unwrap().iter().find(|x| x["name"] == slot.field.as_str()).unwrap();
    let (mut defs, mut args, mut vars) = (Vec::new(), Vec::new(), Map::new());
    for arg in field["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        let on_path = slot.path[0] == name;
        if !on_path && arg["type"]["kind"] != "NON_NULL" {
            continue;
        }
        let rest = if on_path { &slot.path[1..] } else { &[][..] };
        let value = fill(schema, f, name, &arg["type"], rest, if on_path { bad } else { "" });
        defs.push(format!("${name}: {}", written(&arg["type"])));
        args.push(format!("{name}: ${name}"));
        vars.insert(name.to_string(), value);
    }
    let returns = schema.ty(named(&field["type"]));
    let selection =
        if matches!(returns["kind"].as_str(), Some("OBJECT" | "INTERFACE" | "UNION")) { " { __typename }" } else { "" };
    let kind = match slot.root {
        "Query" => "query",
        "Mutation" => "mutation",
        _ => "subscription",
    };
    let defs = if defs.is_empty() { String::new() } else { format!("({})", defs.join(", ")) };
    let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
    (format!("{kind}{defs} {{ {}{args}{selection} }}", slot.field), Value::Object(vars))
}
