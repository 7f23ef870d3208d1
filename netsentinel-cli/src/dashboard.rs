//! `netsentinel monitor`'s live terminal dashboard.
//!
//! The engine runs on its own threads (capture, analysis); this thread only draws. It asks
//! the engine for a snapshot once a second and draws whatever it has: a slow terminal
//! drops frames of display, never packets. Alerts and incidents arrive through a sink.
//!
//! Keys: `1`-`7` or Tab / Shift-Tab switch tabs, `p` pauses the display, `/` filters the
//! tables (Enter keeps it, Esc clears it), `s` saves the last minutes of packets, `q` quits.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use netsentinel_core::alert::sinks::alert_line;
use netsentinel_core::incident::Incident;
use netsentinel_core::recording::RingHandle;
use netsentinel_core::snapshot::{Snapshot, SnapshotHandle};
use netsentinel_core::{Alert, AlertSink, SinkError, StopHandle};
use parking_lot::Mutex;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline, Table, Tabs};
use ratatui::{DefaultTerminal, Frame};

const TABS: [&str; 7] = [
    "Overview",
    "Flows",
    "Protocols",
    "Alerts",
    "Incidents",
    "Devices",
    "Top talkers",
];
const MAX_ALERTS: usize = 1000;
const MAX_INCIDENTS: usize = 500;

/// What the sink hands the display.
#[derive(Default)]
pub struct Feed {
    alerts: VecDeque<Alert>,
    incidents: BTreeMap<u64, Incident>,
}

/// Feeds alerts and incident records to the dashboard (bounded: the newest are kept).
pub struct DashboardSink(pub Arc<Mutex<Feed>>);

impl AlertSink for DashboardSink {
    fn alert(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let mut f = self.0.lock();
        if f.alerts.len() >= MAX_ALERTS {
            f.alerts.pop_front();
        }
        f.alerts.push_back(alert.clone());
        Ok(())
    }
    fn incident(&mut self, incident: &Incident) -> Result<(), SinkError> {
        let mut f = self.0.lock();
        f.incidents.insert(incident.id, incident.clone());
        while f.incidents.len() > MAX_INCIDENTS {
            f.incidents.pop_first();
        }
        Ok(())
    }
}

/// How to reach the running engine.
pub struct Controls {
    /// Snapshots.
    pub snapshots: SnapshotHandle,
    /// Saving recent packets.
    pub ring: RingHandle,
    /// Stopping.
    pub stop: StopHandle,
    /// Where saves go, and how many minutes.
    pub save: Option<(PathBuf, u64)>,
    /// The interface, for the title.
    pub interface: String,
}

struct App {
    tab: usize,
    paused: bool,
    filter: String,
    editing: bool,
    status: String,
    snapshot: Option<Snapshot>,
    alerts: Vec<Alert>,
    incidents: Vec<Incident>,
    saves: Vec<Receiver<String>>,
}

impl App {
    fn matches(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }
}

/// Runs the dashboard until `q` or until `engine_done` says the engine ended.
pub fn run(
    controls: Controls,
    feed: Arc<Mutex<Feed>>,
    engine_done: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &controls, &feed, engine_done);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    controls: &Controls,
    feed: &Arc<Mutex<Feed>>,
    engine_done: &dyn Fn() -> bool,
) -> std::io::Result<()> {
    let mut app = App {
        tab: 0,
        paused: false,
        filter: String::new(),
        editing: false,
        status: String::new(),
        snapshot: None,
        alerts: Vec::new(),
        incidents: Vec::new(),
        saves: Vec::new(),
    };
    let mut asked: Option<Receiver<Snapshot>> = None;
    let mut last_ask = Instant::now() - Duration::from_secs(10);
    loop {
        if engine_done() {
            return Ok(());
        }
        if !app.paused {
            if asked.is_none() && last_ask.elapsed() >= Duration::from_secs(1) {
                asked = Some(controls.snapshots.request());
                last_ask = Instant::now();
            }
            if let Some(rx) = &asked {
                match rx.try_recv() {
                    Ok(s) => {
                        app.snapshot = Some(s);
                        asked = None;
                    }
                    Err(TryRecvError::Disconnected) => asked = None,
                    Err(TryRecvError::Empty) => {}
                }
            }
            let f = feed.lock();
            app.alerts = f.alerts.iter().rev().cloned().collect();
            app.incidents = f.incidents.values().rev().cloned().collect();
        }
        app.saves.retain(|rx| match rx.try_recv() {
            Ok(msg) => {
                app.status = msg;
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => false,
        });
        terminal.draw(|frame| draw(frame, &app, controls))?;
        if !event::poll(Duration::from_millis(200))? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        if app.editing {
            match key.code {
                KeyCode::Enter => app.editing = false,
                KeyCode::Esc => {
                    app.editing = false;
                    app.filter.clear();
                }
                KeyCode::Backspace => {
                    app.filter.pop();
                }
                KeyCode::Char(c) => app.filter.push(c),
                _ => {}
            }
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                controls.stop.stop();
                return Ok(());
            }
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                controls.stop.stop();
                return Ok(());
            }
            KeyCode::Char('p') => {
                app.paused = !app.paused;
                app.status = if app.paused {
                    "display paused (capture goes on)".into()
                } else {
                    String::new()
                };
            }
            KeyCode::Char('/') => {
                app.editing = true;
                app.filter.clear();
            }
            KeyCode::Char('s') => match &controls.save {
                Some((dir, minutes)) => {
                    let stamp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let path = dir.join(format!("last-{minutes}min-{stamp}.pcap"));
                    let answer = controls.ring.save_last(minutes.saturating_mul(60), &path);
                    let (tx, rx) = mpsc::channel();
                    std::thread::spawn(move || {
                        let msg = match answer.recv() {
                            Ok(Ok(done)) => {
                                format!("saved {} packets to {}", done.packets, path.display())
                            }
                            Ok(Err(e)) => format!("not saved: {e}"),
                            Err(_) => "not saved: the engine ended".into(),
                        };
                        let _ = tx.send(msg);
                    });
                    app.saves.push(rx);
                    app.status = "saving...".into();
                }
                None => app.status = "no directory to save to".into(),
            },
            KeyCode::Tab | KeyCode::Right => app.tab = (app.tab + 1) % TABS.len(),
            KeyCode::BackTab | KeyCode::Left => app.tab = (app.tab + TABS.len() - 1) % TABS.len(),
            KeyCode::Char(c @ '1'..='7') => app.tab = usize::from(c as u8 - b'1'),
            _ => {}
        }
    }
}

fn severity_style(s: netsentinel_core::Severity) -> Style {
    use netsentinel_core::Severity as S;
    match s {
        S::Critical => Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
        S::High => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        S::Medium => Style::default().fg(Color::Yellow),
        S::Low => Style::default().fg(Color::Cyan),
        S::Info => Style::default().fg(Color::Gray),
    }
}

fn draw(frame: &mut Frame<'_>, app: &App, controls: &Controls) {
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let tabs = Tabs::new(
        TABS.iter()
            .enumerate()
            .map(|(i, t)| format!("{} {t}", i + 1))
            .collect::<Vec<_>>(),
    )
    .select(app.tab)
    .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" NetSentinel on {} ", controls.interface)),
    );
    frame.render_widget(tabs, top);
    match app.tab {
        0 => overview(frame, body, app),
        1 => flows(frame, body, app),
        2 => protocols(frame, body, app),
        3 => alerts(frame, body, app),
        4 => incidents(frame, body, app),
        5 => devices(frame, body, app),
        _ => talkers(frame, body, app),
    }
    let mut help = String::from(" [1-7/Tab] tabs  [p] pause  [/] filter  [s] save  [q] quit");
    if app.paused {
        help.push_str("  | PAUSED");
    }
    if app.editing || !app.filter.is_empty() {
        help.push_str(&format!(
            "  | filter: {}{}",
            app.filter,
            if app.editing { "_" } else { "" }
        ));
    }
    if !app.status.is_empty() {
        help.push_str(&format!("  | {}", app.status));
    }
    frame.render_widget(
        Paragraph::new(help).style(Style::default().add_modifier(Modifier::REVERSED)),
        bottom,
    );
}

fn overview(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let [counters, chart, recent] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Min(3),
    ])
    .areas(area);
    let text = match &app.snapshot {
        Some(s) => {
            let t = &s.traffic;
            vec![
                Line::from(format!(
                    "packets {}   bytes {}   live flows {}   alerts {}   open incidents {}",
                    t.packets,
                    crate::summary::human_bytes(t.bytes),
                    s.live_flows,
                    s.alerts,
                    s.open_incidents.len()
                )),
                Line::from(format!(
                    "devices {}   packets in the ring {}   last packet {}",
                    s.devices.len(),
                    s.ring_packets,
                    s.at.map_or_else(|| "-".into(), |t| t.to_string())
                )),
            ]
        }
        None => vec![Line::from("waiting for the first snapshot...")],
    };
    frame.render_widget(
        Paragraph::new(text).block(Block::default().borders(Borders::ALL).title(" Counters ")),
        counters,
    );
    let data: Vec<u64> = app.snapshot.as_ref().map_or_else(Vec::new, |s| {
        s.traffic
            .bandwidth
            .iter()
            .map(|b| b.inbound.bytes + b.outbound.bytes + b.internal.bytes + b.other.bytes)
            .collect()
    });
    let width = usize::from(chart.width.saturating_sub(2));
    let shown = &data[data.len().saturating_sub(width)..];
    let peak = shown.iter().copied().max().unwrap_or(0);
    frame.render_widget(
        Sparkline::default()
            .block(Block::default().borders(Borders::ALL).title(format!(
                " Bandwidth (bytes/s, peak {}/s) ",
                crate::summary::human_bytes(peak)
            )))
            .data(shown)
            .style(Style::default().fg(Color::Green)),
        chart,
    );
    let lines: Vec<Line<'_>> = app
        .alerts
        .iter()
        .take(usize::from(recent.height.saturating_sub(2)))
        .map(|a| Line::styled(alert_line(a), severity_style(a.severity)))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Recent alerts "),
        ),
        recent,
    );
}

fn table<'a>(
    title: &'a str,
    header: &'a [&'a str],
    widths: &'a [Constraint],
    rows: Vec<Row<'a>>,
) -> Table<'a> {
    Table::new(rows, widths.to_vec())
        .header(Row::new(header.to_vec()).style(Style::default().add_modifier(Modifier::BOLD)))
        .block(Block::default().borders(Borders::ALL).title(title))
}

fn flows(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let rows: Vec<Row<'_>> = app
        .snapshot
        .iter()
        .flat_map(|s| s.flows.iter())
        .filter(|f| {
            app.matches(&format!(
                "{} {} {} {} {:?}",
                f.src, f.dst, f.protocol, f.state, f.process
            ))
        })
        .map(|f| {
            Row::new(vec![
                f.src.clone(),
                f.dst.clone(),
                f.protocol.clone(),
                f.packets.to_string(),
                crate::summary::human_bytes(f.bytes),
                f.state.clone(),
                f.process.clone().unwrap_or_default(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(40),
        Constraint::Length(40),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(12),
        Constraint::Min(10),
    ];
    frame.render_widget(
        table(
            " Flows (busiest first) ",
            &[
                "source",
                "destination",
                "proto",
                "packets",
                "bytes",
                "state",
                "process",
            ],
            &widths,
            rows,
        ),
        area,
    );
}

fn protocols(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let mut rows: Vec<Row<'_>> = Vec::new();
    if let Some(s) = &app.snapshot {
        for (name, c) in &s.traffic.transport {
            if app.matches(name) {
                rows.push(Row::new(vec![
                    "transport".to_string(),
                    (*name).to_string(),
                    c.packets.to_string(),
                    crate::summary::human_bytes(c.bytes),
                ]));
            }
        }
        for (name, c) in &s.traffic.applications {
            if app.matches(name) {
                rows.push(Row::new(vec![
                    "application".to_string(),
                    (*name).to_string(),
                    c.packets.to_string(),
                    crate::summary::human_bytes(c.bytes),
                ]));
            }
        }
    }
    let widths = [
        Constraint::Length(12),
        Constraint::Length(16),
        Constraint::Length(12),
        Constraint::Length(12),
    ];
    frame.render_widget(
        table(
            " Protocols ",
            &["layer", "protocol", "packets", "bytes"],
            &widths,
            rows,
        ),
        area,
    );
}

fn alerts(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let lines: Vec<Line<'_>> = app
        .alerts
        .iter()
        .filter(|a| app.matches(&alert_line(a)))
        .take(usize::from(area.height.saturating_sub(2)))
        .map(|a| Line::styled(alert_line(a), severity_style(a.severity)))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Alerts (newest first) "),
        ),
        area,
    );
}

fn incidents(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let rows: Vec<Row<'_>> = app
        .incidents
        .iter()
        .filter(|i| app.matches(&i.narrative))
        .map(|i| {
            Row::new(vec![
                i.id.to_string(),
                i.severity.as_str().to_string(),
                i.stage.as_str().to_string(),
                format!("{:?}", i.update).to_lowercase(),
                i.alert_count.to_string(),
                i.narrative.clone(),
            ])
            .style(severity_style(i.severity))
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Length(20),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Min(20),
    ];
    frame.render_widget(
        table(
            " Incidents ",
            &["#", "severity", "stage", "state", "alerts", "what happened"],
            &widths,
            rows,
        ),
        area,
    );
}

fn devices(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let rows: Vec<Row<'_>> = app
        .snapshot
        .iter()
        .flat_map(|s| s.devices.iter())
        .filter(|d| {
            app.matches(&format!(
                "{} {} {} {:?} {}",
                d.mac,
                d.vendor,
                d.addresses.join(" "),
                d.name,
                d.kind
            ))
        })
        .map(|d| {
            Row::new(vec![
                d.mac.clone(),
                d.addresses.join(", "),
                d.kind.clone(),
                d.name.clone().unwrap_or_default(),
                d.vendor.clone(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(18),
        Constraint::Length(40),
        Constraint::Length(14),
        Constraint::Length(24),
        Constraint::Min(10),
    ];
    frame.render_widget(
        table(
            " Devices ",
            &["MAC", "address", "type", "name", "vendor"],
            &widths,
            rows,
        ),
        area,
    );
}

fn talkers(frame: &mut Frame<'_>, area: ratatui::layout::Rect, app: &App) {
    let rows: Vec<Row<'_>> = app
        .snapshot
        .iter()
        .flat_map(|s| s.traffic.top_talkers.iter())
        .filter(|h| app.matches(&h.ip.to_string()))
        .map(|h| {
            Row::new(vec![
                h.ip.to_string(),
                crate::summary::human_bytes(h.bytes_sent),
                crate::summary::human_bytes(h.bytes_received),
                h.flows.to_string(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(40),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(8),
    ];
    frame.render_widget(
        table(
            " Top talkers ",
            &["host", "sent", "received", "flows"],
            &widths,
            rows,
        ),
        area,
    );
}
