//! `/admin`: the server live: connections, rooms and messages per second over the last
//! minutes, the busiest rooms (users of every node of a cluster) and the cluster's nodes.
//! Polls `/metrics`, `/api/rooms` and `/api/cluster` once a second.

use crate::client::metrics_feed::{parse_totals, rates, Totals};
use crate::protocol::{ClusterInfo, RoomList};
use leptos::leptos_dom::helpers::set_interval;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::VecDeque;
use std::time::Duration;

/// How often the page reads the server's figures.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Readings kept per chart: five minutes at one a second.
const HISTORY: usize = 300;
/// Rooms listed.
const BUSIEST: usize = 10;

/// One poll's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Reading {
    connections: f64,
    rooms: f64,
    in_per_sec: f64,
    out_per_sec: f64,
    webhooks_pending: f64,
    webhooks_dead: f64,
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let history = RwSignal::new(VecDeque::<Reading>::new());
    let busiest = RwSignal::new(RoomList::default());
    let cluster = RwSignal::new(ClusterInfo::default());
    let error = RwSignal::new(None::<String>);
    let last = StoredValue::new(None::<(f64, Totals)>);

    // Browser only: poll while the page is open.
    Effect::new(move |_| {
        let poll = move || {
            spawn_local(async move {
                match fetch_totals().await {
                    Ok(totals) => {
                        error.set(None);
                        let now = js_sys::Date::now();
                        let (in_per_sec, out_per_sec) = match last.get_value() {
                            Some((then, before)) => rates(&before, &totals, (now - then) / 1000.0),
                            None => (0.0, 0.0),
                        };
                        last.set_value(Some((now, totals)));
                        let point = Reading {
                            connections: totals.connections,
                            rooms: totals.rooms,
                            in_per_sec,
                            out_per_sec,
                            webhooks_pending: totals.webhooks_pending,
                            webhooks_dead: totals.webhooks_dead,
                        };
                        history.update(|h| {
                            h.push_back(point);
                            if h.len() > HISTORY {
                                h.pop_front();
                            }
                        });
                    }
                    Err(err) => error.set(Some(err)),
                }
                if let Ok(list) = fetch_json::<RoomList>("/api/rooms").await {
                    busiest.set(list);
                }
                if let Ok(info) = fetch_json::<ClusterInfo>("/api/cluster").await {
                    cluster.set(info);
                }
            })
        };
        poll();
        if let Ok(handle) = set_interval(poll, POLL_EVERY) {
            on_cleanup(move || handle.clear());
        }
    });

    let cluster_connections = move || cluster.with(|c| c.nodes.iter().map(|n| n.connections as f64).sum::<f64>());
    let series =
        move |pick: fn(&Reading) -> f64| Signal::derive(move || history.with(|h| h.iter().map(pick).collect()));
    let now = move |pick: fn(&Reading) -> f64| move || history.with(|h| h.back().map(pick).unwrap_or(0.0).round());
    view! {
        <section class="admin">
            <h1>"Flock server"</h1>
            <p class="error" role="alert">{move || error.get()}</p>
            <div class="figures">
                <Figure label="connections here" testid="admin-connections" value=now(|p| p.connections)/>
                <Figure label="connections, all nodes" testid="admin-cluster-connections" value=cluster_connections/>
                <Figure label="rooms" testid="admin-rooms" value=now(|p| p.rooms)/>
                <Figure label="messages in / s" testid="admin-in" value=now(|p| p.in_per_sec)/>
                <Figure label="messages out / s" testid="admin-out" value=now(|p| p.out_per_sec)/>
                <Figure label="webhooks waiting" testid="admin-webhooks-pending" value=now(|p| p.webhooks_pending)/>
                <Figure label="webhooks given up" testid="admin-webhooks-dead" value=now(|p| p.webhooks_dead)/>
            </div>
            <Chart title="Connections" values=series(|p| p.connections)/>
            <Chart title="Rooms" values=series(|p| p.rooms)/>
            <Chart title="Messages in per second" values=series(|p| p.in_per_sec)/>
            <Chart title="Messages out per second" values=series(|p| p.out_per_sec)/>
            <h2>"Busiest rooms"</h2>
            <ol class="rooms" data-testid="admin-rooms-list">
                {move || busiest.get().rooms.into_iter().take(BUSIEST).map(|r| view! {
                    <li><a href=format!("/r/{}", r.name)>{r.name.clone()}</a>
                        " "
                        <span class="count">{r.users} " in, " {r.away} " away"</span></li>
                }).collect_view()}
            </ol>
            <h2>"Nodes " <span class="bus" data-testid="admin-bus">{move || bus_label(&cluster.get().bus)}</span></h2>
            <ul class="nodes" data-testid="admin-nodes">
                {move || cluster.get().nodes.into_iter().map(|n| view! {
                    <li>
                        <span class="node">
                            {n.id.map_or_else(|| "this node".to_owned(), |id| id.to_string()[..8].to_owned())}
                            {n.here.then_some(" (this one)")}
                        </span>
                        " "
                        <span class="count">{n.connections} " connections"</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Figure(label: &'static str, testid: &'static str, value: impl Fn() -> f64 + Send + Sync + 'static) -> impl IntoView {
    view! {
        <div class="figure">
            <span class="value" data-testid=testid>{move || value().to_string()}</span>
            <span class="label">{label}</span>
        </div>
    }
}

/// A line over the last minutes, scaled to its own maximum, with its scale (the top and
/// zero) and the time each edge is (the newest reading is now, at the right).
#[component]
fn Chart(title: &'static str, values: Signal<Vec<f64>>) -> impl IntoView {
    const W: f64 = 600.0;
    const H: f64 = 80.0;
    let top = move || values.with(|v| nice_ceiling(v.iter().copied().fold(0.0, f64::max)));
    let points = move || {
        let max = top();
        values.with(|v| {
            // The newest reading is at the right edge; older ones go left, one a second.
            let offset = HISTORY.saturating_sub(v.len());
            v.iter()
                .enumerate()
                .map(|(i, y)| format!("{:.1},{:.1}", (offset + i) as f64 * W / (HISTORY - 1) as f64, H - y / max * H))
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let peak = move || values.with(|v| v.iter().copied().fold(0.0, f64::max).round());
    let minutes = HISTORY as f64 / 60.0;
    view! {
        <figure class="chart">
            <figcaption>{title} <span class="peak">" (peak " {peak} ")"</span></figcaption>
            <div class="plot">
                <div class="y-axis" data-testid="chart-scale">
                    <span>{move || top().to_string()}</span>
                    <span>"0"</span>
                </div>
                <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=title>
                    <line x1="0" y1="0" x2=W.to_string() y2="0" class="grid"/>
                    <line x1="0" y1=(H / 2.0).to_string() x2=W.to_string() y2=(H / 2.0).to_string() class="grid"/>
                    <polyline points=points fill="none" stroke="currentColor" stroke-width="1.5"/>
                </svg>
                <div class="x-axis" data-testid="chart-time">
                    <span>{format!("{minutes} min ago")}</span>
                    <span>{format!("{} min ago", minutes / 2.0)}</span>
                    <span>"now"</span>
                </div>
            </div>
        </figure>
    }
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `max` (at least 1): a top
/// of the scale a reader can take in at a glance.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|step| step * power).find(|&top| top >= max).unwrap_or(10.0 * power)
}

async fn fetch_totals() -> Result<Totals, String> {
    let response = gloo_net::http::Request::get("/metrics").send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("/metrics answered HTTP {}", response.status()));
    }
    Ok(parse_totals(&response.text().await.map_err(|e| e.to_string())?))
}

async fn fetch_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, String> {
    let response = gloo_net::http::Request::get(path).send().await.map_err(|e| e.to_string())?;
    response.json::<T>().await.map_err(|e| e.to_string())
}

/// What the bus status means to an operator.
fn bus_label(bus: &str) -> &'static str {
    match bus {
        "local" => "single node",
        "up" => "cluster: linked through Redis",
        "down" => "cluster: Redis unreachable, serving this node's rooms only",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn the_top_of_a_scale_is_a_round_number_at_or_above_the_peak() {
        let tops: Vec<f64> = [0.0, 1.0, 1.5, 7.0, 10.0, 11.0, 230.0, 5001.0].into_iter().map(nice_ceiling).collect();
        assert_eq!(tops, [1.0, 1.0, 2.0, 10.0, 10.0, 20.0, 500.0, 10000.0]);
    }
}
