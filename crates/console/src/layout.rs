//! The frame every page shares: skip link, navigation, the signed-in user,
//! a logout form, the page's heading and flash messages. One small style
//! sheet, inline (no JavaScript, no separate front-end build): [`CSS`] is
//! the page's only style (no `style` attribute, no other `<style>`), so the
//! server's Content Security Policy allows exactly it, by its SHA-256.

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// One entry of the navigation. A new area (the orders register, say) is one
/// more row here and one more route in the server's console module.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
}

pub const NAV: &[NavItem] = &[
    NavItem {
        href: "/console",
        label: "Dashboard",
    },
    NavItem {
        href: "/console/search",
        label: "Search",
    },
    NavItem {
        href: "/console/whois",
        label: "Whois",
    },
    NavItem {
        href: "/console/subscribers",
        label: "Subscribers",
    },
    NavItem {
        href: "/console/vasp",
        label: "Transactions",
    },
    NavItem {
        href: "/console/incidents",
        label: "Incidents",
    },
    NavItem {
        href: "/console/orders",
        label: "Orders",
    },
    NavItem {
        href: "/console/holds",
        label: "Holds",
    },
    NavItem {
        href: "/console/audit",
        label: "Audit trail",
    },
    NavItem {
        href: "/console/settings",
        label: "Settings",
    },
];

/// Who is signed in, as the frame shows them.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub roles: &'a str,
    /// The session's CSRF token, put in every form as `_csrf`.
    pub csrf: &'a str,
}

/// A message at the top of a page.
pub enum Flash {
    Ok(String),
    Error(String),
}

/// Colours chosen for contrast of at least 4.5:1 on their backgrounds (WCAG AA).
pub const CSS: &str = r#"
:root{--fg:#111;--bg:#fff;--muted:#4a4a4a;--line:#bbb;--link:#0645ad;--green:#0b6b2b;--amber:#8a5300;--red:#a4161a;--greenbg:#e3f4e8;--amberbg:#fff1d6;--redbg:#fde2e2}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #1a5fb4;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:9}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:12px;padding:8px 16px;background:#1d2a3a;color:#fff}
header.top a{color:#fff}
header.top .brand{font-weight:700;font-size:1.1em;text-decoration:none}
nav ul{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;margin:0;padding:0}
nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
header.top .who{margin-left:auto;display:flex;gap:8px;align-items:center}
header.top button{background:#fff;color:#1d2a3a;border:0;padding:4px 10px;border-radius:3px;cursor:pointer}
main{max-width:1280px;margin:0 auto;padding:12px 20px 40px}
h1{font-size:1.5em;margin:.4em 0 .6em}
.flash{padding:8px 12px;border-radius:4px;margin:8px 0;border:1px solid}
.flash.ok{background:var(--greenbg);border-color:var(--green)}
.flash.error{background:var(--redbg);border-color:var(--red)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px;margin:0;padding:0;list-style:none}
.card{border:2px solid var(--line);border-left-width:10px;border-radius:6px;padding:10px 14px}
.card h2{font-size:1.1em;margin:0 0 4px}
.card.green{border-color:var(--green);background:var(--greenbg)}
.card.amber{border-color:var(--amber);background:var(--amberbg)}
.card.red{border-color:var(--red);background:var(--redbg)}
.level{font-weight:700;text-transform:uppercase;letter-spacing:.04em}
.green .level{color:var(--green)}.amber .level{color:var(--amber)}.red .level{color:var(--red)}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.num,th.num{text-align:right}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.92em}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:8px;border:1px solid var(--line)}
form.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px 14px;align-items:end;margin:8px 0}
form.stack{display:grid;gap:8px;max-width:720px}
label{display:block;font-weight:600}
input,select,textarea{font:inherit;padding:4px 6px;border:1px solid #767676;border-radius:3px;width:100%}
input[type=checkbox]{width:auto}
button,.button{font:inherit;padding:6px 14px;border:1px solid #1d2a3a;background:#1d2a3a;color:#fff;border-radius:3px;cursor:pointer;text-decoration:none;display:inline-block}
.muted{color:var(--muted)}
section{margin:18px 0}
figure{margin:8px 0}figcaption{color:var(--muted);font-size:.92em}
svg text{font:12px system-ui,sans-serif;fill:#111}
.pager{display:flex;gap:16px;margin:8px 0}
.kinds{columns:2 320px}
label.inline{display:inline;font-weight:normal}
svg.trail rect{fill:#fff;stroke:#767676}svg.trail .customer rect{fill:#dbe9fb;stroke:#0645ad}svg.trail .wallet rect{fill:#eee}svg.trail .exchange rect{fill:var(--amberbg);stroke:var(--amber)}svg.trail line{stroke:#555;stroke-width:1.2}svg.trail marker path{fill:#555}
svg.heatmap .before{fill:#f0f0f0}svg.heatmap .silent{fill:#c1121f}svg.heatmap .l1{fill:#c7e9c0}svg.heatmap .l2{fill:#74c476}svg.heatmap .l3{fill:#31a354}svg.heatmap .l4{fill:#006d2c}svg.heatmap .others text{font-style:italic}
"#;

/// A whole page. `active` is the navigation entry to mark as the current page.
pub fn page(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    active: &str,
    flash: Option<&Flash>,
    body: Markup,
) -> Markup {
    page_refreshing(title, viewer, active, flash, body, None)
}

/// As [`page`], reloaded by the browser every `refresh_s` seconds (a
/// countdown or the dashboard stays current without JavaScript).
pub fn page_refreshing(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    active: &str,
    flash: Option<&Flash>,
    body: Markup,
    refresh_s: Option<u32>,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(r) = refresh_s { meta http-equiv="refresh" content=(r); }
                title { (title) " · pramaan" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/console" { "pramaan" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            ul {
                                @for item in NAV {
                                    li {
                                        @if item.href == active {
                                            a href=(item.href) aria-current="page" { (item.label) }
                                        } @else {
                                            a href=(item.href) { (item.label) }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            span { "Signed in as " strong { (v.name) } " (" (v.roles) ")" }
                            form method="post" action="/console/logout" {
                                (csrf_field(v.csrf))
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @match flash {
                        Some(Flash::Ok(m)) => { p.flash.ok role="status" { (m) } }
                        Some(Flash::Error(m)) => { p.flash.error role="alert" { (m) } }
                        None => {}
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden field that carries the CSRF token in a form posted without JavaScript.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A labelled text input (every input has a label: screen readers and keyboard users).
pub fn field(name: &str, label: &str, value: &str, hint: &str) -> Markup {
    let id = format!("f-{name}");
    html! {
        div {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(value) aria-describedby=[(!hint.is_empty()).then(|| format!("{id}-hint"))];
            @if !hint.is_empty() { small.muted id=(format!("{id}-hint")) { (hint) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_carries_the_csrf_token_and_the_current_page_is_marked() {
        let v = Viewer {
            name: "asha",
            roles: "poc",
            csrf: "tok123",
        };
        let html = page("Dashboard", Some(&v), "/console", None, html! { p { "x" } }).into_string();
        assert!(html.contains(r#"<input type="hidden" name="_csrf" value="tok123">"#));
        assert!(html.contains(r#"<a href="/console" aria-current="page">Dashboard</a>"#));
        assert!(html.contains(r##"<a class="skip" href="#main">"##));
        assert!(html.contains("<html lang=\"en\">"));
    }

    #[test]
    fn text_is_escaped() {
        let html = page(
            "<x>",
            None,
            "",
            Some(&Flash::Error("<script>".into())),
            html! {},
        )
        .into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    /// WCAG 2 relative luminance of `#rgb` or `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let h = hex.trim_start_matches('#');
        let h: String = if h.len() == 3 {
            h.chars().flat_map(|c| [c, c]).collect()
        } else {
            h.to_owned()
        };
        assert_eq!(h.len(), 6, "not a colour: {hex}");
        let ch = |i: usize| {
            let v = u8::from_str_radix(&h[i..i + 2], 16).unwrap() as f64 / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(0) + 0.7152 * ch(2) + 0.0722 * ch(4)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// A colour as the style sheet gives it: `--name` is looked up in `:root`,
    /// `#hex` must appear in the sheet (so the test follows the CSS).
    fn colour(c: &str) -> String {
        if let Some(name) = c.strip_prefix("--") {
            let key = format!("--{name}:");
            let at = CSS
                .find(&key)
                .unwrap_or_else(|| panic!("no {key} in the CSS"));
            let rest = &CSS[at + key.len()..];
            rest[..rest.find([';', '}']).unwrap()].to_owned()
        } else {
            assert!(CSS.contains(c), "{c} is not in the CSS");
            c.to_owned()
        }
    }

    #[test]
    fn luminance_matches_wcag_reference_values() {
        assert!((contrast("#000", "#fff") - 21.0).abs() < 1e-9);
        assert!((contrast("#767676", "#fff") - 4.54).abs() < 0.01);
    }

    #[test]
    fn text_and_controls_meet_wcag_aa_contrast() {
        // (foreground, background, minimum): 4.5:1 for text, 3:1 for the
        // borders of controls and the focus ring (WCAG 2.1, 1.4.3 and 1.4.11).
        let pairs = [
            ("--fg", "--bg", 4.5),
            ("--muted", "--bg", 4.5),
            ("--link", "--bg", 4.5),
            ("--fg", "--greenbg", 4.5),
            ("--fg", "--amberbg", 4.5),
            ("--fg", "--redbg", 4.5),
            ("--link", "--greenbg", 4.5),
            ("--link", "--amberbg", 4.5),
            ("--link", "--redbg", 4.5),
            ("--muted", "--greenbg", 4.5),
            ("--muted", "--amberbg", 4.5),
            ("--muted", "--redbg", 4.5),
            ("--green", "--greenbg", 4.5),
            ("--amber", "--amberbg", 4.5),
            ("--red", "--redbg", 4.5),
            ("#fff", "#1d2a3a", 4.5),
            ("--fg", "#f2f2f2", 4.5),
            ("--fg", "#f6f6f6", 4.5),
            ("#767676", "--bg", 3.0),
            ("#1a5fb4", "--bg", 3.0),
            ("#1a5fb4", "--greenbg", 3.0),
            ("#1a5fb4", "--amberbg", 3.0),
            ("#1a5fb4", "--redbg", 3.0),
        ];
        for (fg, bg, min) in pairs {
            let r = contrast(&colour(fg), &colour(bg));
            assert!(r >= min, "{fg} on {bg}: {r:.2}:1, below {min}:1");
        }
    }

    #[test]
    fn inputs_are_labelled() {
        let h = field("ip", "IP address", "", "IPv4 or IPv6").into_string();
        assert!(h.contains(r#"<label for="f-ip">IP address</label>"#));
        assert!(h.contains(r#"id="f-ip""#));
        assert!(h.contains(r#"aria-describedby="f-ip-hint""#));
    }
}
