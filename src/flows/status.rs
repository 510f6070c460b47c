//! `docker flow status`: releases, instances and proxy routes, read from the engine and the proxy.

use serde_json::{json, Value};

use super::Ctx;
use crate::error::Result;
use crate::model::Color;
use crate::settings::Format;

pub(super) fn run(ctx: &Ctx) -> Result<()> {
    let instances = ctx.instances()?;
    let live = if ctx.settings.blue_green {
        ctx.live_color(&instances)?
    } else {
        None
    };
    let mut colors = serde_json::Map::new();
    let keys: Vec<(String, Option<Color>)> = if ctx.settings.blue_green {
        vec![
            ("blue".into(), Some(Color::Blue)),
            ("green".into(), Some(Color::Green)),
        ]
    } else {
        vec![("default".into(), None)]
    };
    for (key, color) in keys {
        let list: Vec<Value> = instances
            .iter()
            .filter(|i| !ctx.settings.blue_green || i.color == color)
            .map(|i| {
                json!({"name": i.name, "state": i.state, "health": i.health, "image": i.image,
                       "created": i.created, "release": i.release})
            })
            .collect();
        colors.insert(key, json!({"instances": list}));
    }
    // A proxy that cannot be reached is reported, not fatal: status is how one finds out.
    let (routes, proxy_error) = match ctx.proxy.routes() {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let status = json!({
        "project": ctx.project_name(),
        "target": ctx.target,
        "blue_green": ctx.settings.blue_green,
        "live_color": live.map(|c| c.to_string()),
        "colors": colors,
        "proxy": {"driver": ctx.proxy.driver(), "routes": routes, "error": proxy_error},
    });
    if ctx.settings.format == Format::Json {
        println!("{status}");
        return Ok(());
    }
    println!(
        "project {}  target {}  live {}",
        ctx.project_name(),
        ctx.target,
        live.map_or("-".to_string(), |c| c.to_string())
    );
    for (key, c) in status["colors"].as_object().into_iter().flatten() {
        println!("{key}:");
        let list = c["instances"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            println!("  (none)");
        }
        for i in list {
            println!(
                "  {:32} {:8} {:9} {}",
                i["name"].as_str().unwrap_or(""),
                i["state"].as_str().unwrap_or(""),
                i["health"].as_str().unwrap_or(""),
                i["image"].as_str().unwrap_or("")
            );
        }
    }
    println!("proxy ({}):", ctx.proxy.driver());
    if let Some(e) = proxy_error {
        println!("  unreachable: {e}");
    }
    for r in routes {
        println!(
            "  {} {} -> {}",
            r.paths.join(","),
            r.domains.join(","),
            r.upstreams.join(", ")
        );
    }
    Ok(())
}
