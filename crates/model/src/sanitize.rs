//! Message HTML made safe to display: [`sanitize_html`].
//!
//! A message's HTML comes from whoever sent it. Before any front end shows it, it goes through
//! [`ammonia`] (an html5ever parse, then an allow-list) with a policy made for mail:
//!
//! * **Elements**: the usual formatting and layout of mail — text blocks, lists, tables
//!   (including `tfoot`), `font`, `center`, `img`, links. Nothing that runs, loads or submits
//!   anything: no `script`, `style`, `iframe`, `object`, `embed`, `applet`, `form`, `input`,
//!   `button`, `select`, `textarea`, `meta`, `link`, `base`, `svg`, `math`, `video`, `audio`,
//!   `picture`, `source`, `frame`. The *content* of `script`, `style`, `title`, `noscript`,
//!   `template`, `iframe`, `noframes`, `noembed`, `object`, `applet`, `frameset`, `svg` and
//!   `math` goes with them; other refused elements (e.g. `form`, `button`) are unwrapped and
//!   their text kept. The input is parsed as a fragment, so `<html>`, `<head>` and `<body>`
//!   (and the body's own attributes) disappear; comments, CDATA sections and doctypes too.
//! * **Attributes**: an allow-list (e.g. `align`, `valign`, `bgcolor`, `width`, `height`,
//!   `style`, `dir`, `lang`, `title` everywhere; `colspan`, `cellpadding`, `face`, `color`…
//!   where they belong). No `on*` event handler, `id`, `class`, `srcset`, `usemap`, `ping`,
//!   `formaction` or `data-*` attribute ever passes.
//! * **URLs**, after removing tabs and newlines and trimming as a browser would:
//!   `a href` may be `http:`, `https:` or `mailto:`; `img src` and the `background` attribute
//!   of tables and cells may be `http:`/`https:`/`//` (remote, see below), `cid:` (a part of the
//!   message: kept as written, the client maps it through `attachments[].content_id`) or a
//!   `data:image/{png,gif,jpeg,jpg,webp,bmp}` URI; `cite` may be `http:`/`https:`. Anything
//!   else — `javascript:`, `vbscript:`, `data:text/html`, `file:`, relative URLs — removes the
//!   attribute. Links get `rel="noopener noreferrer"` and `target="_blank"`.
//! * **Inline `style` is kept**, because mail layout lives in it (`<style>` blocks do not
//!   survive, so it is all a message keeps of its looks), but filtered declaration by
//!   declaration. A declaration is dropped when
//!   - its property is not on an allow-list of presentational properties (colours, fonts,
//!     text, box model, borders, backgrounds, lists, tables, `display`, `mso-*`…): so never
//!     `behavior`, `-moz-binding`, `position`, `z-index`, `content`, `filter`, `transform`;
//!   - its value holds a backslash (CSS escapes could spell anything), a control character,
//!     `expression`, `javascript:`, `vbscript:`, `behavior`, `binding` or `@import`;
//!   - its value calls a function other than `rgb[a]`, `hsl[a]`, `calc`, `min`, `max`,
//!     `clamp`, the `*-gradient` family and `url` (so no `expression()`, `image-set()`,
//!     `image()`, `element()`…);
//!   - a `url()` in it is not a remote/`cid:`/`data:image` URL as above, or is remote while
//!     remote content is blocked.
//!
//!   Comments are removed first (conservatively: `ex/**/pression(` is then caught as
//!   `expression(`), and at-rules such as `@import` are not declarations and never kept.
//!
//! # Remote content
//!
//! Loading a remote image tells the sender that, when and where the message was read
//! (tracking pixels are simply 1×1 remote images). With [`RemoteContent::Block`] (the default)
//! every remote reference that would load by itself is removed and counted in
//! [`SanitizedHtml::remote_blocked`]:
//!
//! * an `<img>` keeps its place, `alt`, `width` and `height` but **loses its `src`** (the
//!   chosen placeholder form: the browser shows the alt text or an empty box, and nothing is
//!   fetched; a client offers "load images" by asking again with [`RemoteContent::Allow`]);
//! * a remote `background` attribute is removed;
//! * a style declaration with a remote `url()` is removed.
//!
//! With [`RemoteContent::Allow`] those stay (a protocol-relative `//host/x` becomes
//! `https://host/x`); everything else in this policy still applies.
//!
//! The result is meant for a sandboxed frame (no scripts, no same origin): sanitising is the
//! first wall, not the only one. [`sanitize_html`] is pure: no I/O, no global state.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Whether remote images and backgrounds may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteContent {
    /// Remove every reference that would load something remote by itself (the default).
    #[default]
    Block,
    /// Keep remote images and backgrounds.
    Allow,
}

/// Sanitised HTML and what was taken out of it for privacy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SanitizedHtml {
    pub html: String,
    /// Remote images, backgrounds and style `url()`s removed because remote content was
    /// blocked (always 0 with [`RemoteContent::Allow`]).
    pub remote_blocked: usize,
}

const TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "article",
    "aside",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "font",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "main",
    "mark",
    "nav",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "section",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// Deeper than this, the HTML is shown as its text only. html5ever's tree building costs grow
/// with the square of the nesting depth (50,000 nested `<div>`s, 250 KB, took ~9 s), so a
/// hostile message could otherwise hold a CPU each time it is opened; real mail stays far
/// below (deeply nested layout tables reach a few dozen).
const MAX_NESTING: usize = 1000;

/// Elements that never hold others, so an opening tag of theirs does not nest.
const VOID_TAGS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// A quick over-estimate of the element nesting depth: opening tags minus closing tags, at
/// their peak. It never under-counts what a parser would build from well-formed HTML.
fn nesting_exceeds(html: &str, limit: usize) -> bool {
    let bytes = html.as_bytes();
    let mut depth: usize = 0;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + off + 1;
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = if closing { start + 1 } else { start };
        let name_end = bytes[name_start..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| name_start + n);
        i = name_end.max(start);
        if name_end == name_start {
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        if closing {
            depth = depth.saturating_sub(1);
        } else if !VOID_TAGS.contains(&name.as_str()) {
            depth += 1;
            if depth > limit {
                return true;
            }
        }
    }
    false
}

/// The text of an HTML document with every tag dropped, escaped, in a `<pre>`: safe
/// whatever the input, because nothing of the input is left unescaped.
fn text_only(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2 + 16);
    out.push_str("<pre>");
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (true, _) => {}
            (false, '&') => out.push_str("&amp;"),
            (false, '>') => out.push_str("&gt;"),
            (false, '"') => out.push_str("&quot;"),
            (false, '\'') => out.push_str("&#39;"),
            (false, c) => out.push(c),
        }
    }
    out.push_str("</pre>");
    out
}

/// Refused elements removed with everything inside them.
const CLEAN_CONTENT_TAGS: &[&str] = &[
    "script", "style", "title", "noscript", "template", "iframe", "noframes", "noembed", "object",
    "applet", "frameset", "svg", "math",
];

const GENERIC_ATTRIBUTES: &[&str] = &[
    "align", "bgcolor", "dir", "height", "lang", "style", "title", "valign", "width",
];

const TAG_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href", "hreflang"]),
    ("img", &["src", "alt", "border", "hspace", "vspace"]),
    (
        "table",
        &[
            "background",
            "border",
            "cellpadding",
            "cellspacing",
            "frame",
            "rules",
            "summary",
        ],
    ),
    (
        "td",
        &[
            "abbr",
            "background",
            "colspan",
            "headers",
            "nowrap",
            "rowspan",
        ],
    ),
    (
        "th",
        &[
            "abbr",
            "background",
            "colspan",
            "headers",
            "nowrap",
            "rowspan",
            "scope",
        ],
    ),
    ("tr", &["background"]),
    ("tbody", &["background"]),
    ("thead", &["background"]),
    ("tfoot", &["background"]),
    ("col", &["span"]),
    ("colgroup", &["span"]),
    ("font", &["color", "face", "size"]),
    ("hr", &["noshade", "size"]),
    ("ol", &["reversed", "start", "type"]),
    ("ul", &["type"]),
    ("li", &["type", "value"]),
    ("blockquote", &["cite"]),
    ("q", &["cite"]),
    ("del", &["cite", "datetime"]),
    ("ins", &["cite", "datetime"]),
    ("details", &["open"]),
];

/// Style properties kept exactly.
const STYLE_PROPERTIES: &[&str] = &[
    "border-collapse",
    "border-spacing",
    "box-shadow",
    "box-sizing",
    "caption-side",
    "clear",
    "color",
    "cursor",
    "direction",
    "display",
    "empty-cells",
    "float",
    "height",
    "hyphens",
    "letter-spacing",
    "line-height",
    "max-height",
    "max-width",
    "min-height",
    "min-width",
    "opacity",
    "overflow",
    "overflow-wrap",
    "overflow-x",
    "overflow-y",
    "tab-size",
    "table-layout",
    "unicode-bidi",
    "vertical-align",
    "visibility",
    "white-space",
    "width",
    "word-break",
    "word-spacing",
    "word-wrap",
    "-webkit-text-size-adjust",
    "-ms-text-size-adjust",
];

/// Style property families kept: the property itself and any `prefix-…`.
const STYLE_PROPERTY_FAMILIES: &[&str] = &[
    "background",
    "border",
    "font",
    "list-style",
    "margin",
    "outline",
    "padding",
    "text",
];

/// CSS functions a kept value may call.
const STYLE_FUNCTIONS: &[&str] = &[
    "rgb",
    "rgba",
    "hsl",
    "hsla",
    "calc",
    "min",
    "max",
    "clamp",
    "url",
    "linear-gradient",
    "radial-gradient",
    "repeating-linear-gradient",
    "repeating-radial-gradient",
    "-webkit-linear-gradient",
    "-moz-linear-gradient",
];

/// Words that never appear in a kept style value.
const STYLE_FORBIDDEN: &[&str] = &[
    "expression",
    "javascript:",
    "vbscript:",
    "behavior",
    "binding",
    "@import",
];

const DATA_IMAGE_TYPES: &[&str] = &["png", "gif", "jpeg", "jpg", "webp", "bmp"];

/// Sanitises message HTML for display; see the module documentation for the policy.
pub fn sanitize_html(html: &str, remote: RemoteContent) -> SanitizedHtml {
    if nesting_exceeds(html, MAX_NESTING) {
        return SanitizedHtml {
            html: text_only(html),
            remote_blocked: 0,
        };
    }
    let blocked = Arc::new(AtomicUsize::new(0));
    let counter = blocked.clone();
    let tag_attributes: HashMap<&str, HashSet<&str>> = TAG_ATTRIBUTES
        .iter()
        .map(|(tag, attrs)| (*tag, attrs.iter().copied().collect()))
        .collect();
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(TAGS.iter().copied().collect())
        .clean_content_tags(CLEAN_CONTENT_TAGS.iter().copied().collect())
        .generic_attributes(GENERIC_ATTRIBUTES.iter().copied().collect())
        .tag_attributes(tag_attributes)
        // A first gate only: `filter_attribute` decides per element and attribute.
        .url_schemes(
            ["http", "https", "mailto", "cid", "data"]
                .into_iter()
                .collect(),
        )
        // Relative URLs reach `filter_attribute`, which refuses them but counts `//host/x`.
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .set_tag_attribute_value("a", "target", "_blank")
        .strip_comments(true)
        .attribute_filter(move |element: &str, attribute: &str, value: &str| {
            filter_attribute(element, attribute, value, remote, &counter).map(Cow::Owned)
        });
    let html = builder.clean(html).to_string();
    SanitizedHtml {
        html,
        remote_blocked: blocked.load(Ordering::Relaxed),
    }
}

/// The value to keep for an allowed attribute, or `None` to remove it.
fn filter_attribute(
    element: &str,
    attribute: &str,
    value: &str,
    remote: RemoteContent,
    blocked: &AtomicUsize,
) -> Option<String> {
    // ammonia also shows us attributes of elements it is about to remove: ignore them, so
    // nothing is counted for content that is not there.
    if !TAGS.contains(&element) {
        return None;
    }
    match attribute {
        "href" => {
            let url = normalize_url(value);
            matches!(scheme(&url).as_deref(), Some("http" | "https" | "mailto")).then_some(url)
        }
        "cite" => {
            let url = normalize_url(value);
            matches!(scheme(&url).as_deref(), Some("http" | "https")).then_some(url)
        }
        "src" | "background" => image_url(value, remote, blocked),
        "style" => filter_style(value, remote, blocked),
        _ => Some(value.to_string()),
    }
}

/// What a browser makes of an attribute URL before resolving it: no tabs or newlines, no
/// leading or trailing spaces and control characters.
fn normalize_url(value: &str) -> String {
    let v: String = value
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    v.trim_matches(|c: char| c <= ' ').to_string()
}

/// The lower-case scheme of a normalised URL, `None` for a relative one.
fn scheme(url: &str) -> Option<String> {
    let (s, _) = url.split_once(':')?;
    let mut chars = s.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then(|| s.to_ascii_lowercase())
}

enum ImageUrl {
    Remote,
    Local,
    Refused,
}

fn classify_image(url: &str) -> ImageUrl {
    if url.starts_with("//") {
        return ImageUrl::Remote;
    }
    match scheme(url).as_deref() {
        Some("http" | "https") => ImageUrl::Remote,
        Some("cid") => ImageUrl::Local,
        Some("data") => {
            let lower = url.to_ascii_lowercase();
            let ok = DATA_IMAGE_TYPES.iter().any(|t| {
                lower
                    .strip_prefix("data:image/")
                    .and_then(|rest| rest.strip_prefix(t))
                    .is_some_and(|rest| rest.starts_with(';') || rest.starts_with(','))
            });
            if ok {
                ImageUrl::Local
            } else {
                ImageUrl::Refused
            }
        }
        _ => ImageUrl::Refused,
    }
}

/// An image URL (`img src`, `background`) to keep, or `None`; counts blocked remote ones.
fn image_url(value: &str, remote: RemoteContent, blocked: &AtomicUsize) -> Option<String> {
    let url = normalize_url(value);
    match classify_image(&url) {
        ImageUrl::Local => Some(url),
        ImageUrl::Refused => None,
        ImageUrl::Remote => match remote {
            RemoteContent::Allow if url.starts_with("//") => Some(format!("https:{url}")),
            RemoteContent::Allow => Some(url),
            RemoteContent::Block => {
                blocked.fetch_add(1, Ordering::Relaxed);
                None
            }
        },
    }
}

fn style_property_allowed(name: &str) -> bool {
    STYLE_PROPERTIES.contains(&name)
        || name.starts_with("mso-")
        || STYLE_PROPERTY_FAMILIES.iter().any(|f| {
            name.strip_prefix(f)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
}

/// Removes `/* … */` comments; an unterminated one runs to the end.
fn strip_css_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        out.push(' ');
        match rest[start + 2..].find("*/") {
            Some(end) => rest = &rest[start + 2 + end + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Splits at `sep` outside quotes and parentheses.
fn split_css(s: &str, sep: char, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                c if c == sep && depth == 0 && parts.len() + 1 < max => {
                    parts.push(&s[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The filtered `style` value, or `None` when no declaration is left.
fn filter_style(value: &str, remote: RemoteContent, blocked: &AtomicUsize) -> Option<String> {
    let cleaned = strip_css_comments(value);
    let mut kept: Vec<String> = Vec::new();
    for declaration in split_css(&cleaned, ';', usize::MAX) {
        if declaration.trim().is_empty() {
            continue;
        }
        let parts = split_css(declaration, ':', 2);
        let [name, value] = parts[..] else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            || !style_property_allowed(&name)
            || value.is_empty()
        {
            continue;
        }
        if let Some(value) = filter_style_value(value, remote, blocked) {
            kept.push(format!("{name}: {value}"));
        }
    }
    (!kept.is_empty()).then(|| kept.join("; "))
}

fn filter_style_value(value: &str, remote: RemoteContent, blocked: &AtomicUsize) -> Option<String> {
    if value.contains('\\')
        || value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
    {
        return None;
    }
    // CSS whitespace is all alike; one line reads better.
    let value = value.replace(['\t', '\n', '\r', '\x0c'], " ");
    let value = value.as_str();
    let lower = value.to_ascii_lowercase();
    if STYLE_FORBIDDEN.iter().any(|w| lower.contains(w)) {
        return None;
    }
    // Every '(' must open an allowed function.
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices('(') {
        let start = bytes[..i]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
            .map_or(0, |p| p + 1);
        if !STYLE_FUNCTIONS.contains(&&lower[start..i]) {
            return None;
        }
    }
    // Every url() must be acceptable.
    let mut remote_urls = 0;
    let mut rest = lower.as_str();
    let mut offset = 0;
    while let Some(i) = rest.find("url(") {
        let arg_start = offset + i + 4;
        let arg_end = offset + i + 4 + lower[arg_start..].find(')')?;
        // A ')' inside a quoted URL ends the argument early: its quotes then do not match
        // and the declaration is dropped.
        let arg = value[arg_start..arg_end].trim();
        let url = match arg.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = arg.strip_prefix(q)?;
                inner.strip_suffix(q)?
            }
            _ => arg,
        };
        if url.contains(['"', '\'', '(', ' ']) {
            return None;
        }
        match classify_image(&normalize_url(url)) {
            ImageUrl::Local => {}
            ImageUrl::Refused => return None,
            ImageUrl::Remote => remote_urls += 1,
        }
        offset = arg_end + 1;
        rest = &lower[offset..];
    }
    if remote_urls > 0 && remote == RemoteContent::Block {
        blocked.fetch_add(remote_urls, Ordering::Relaxed);
        return None;
    }
    Some(value.to_string())
}
