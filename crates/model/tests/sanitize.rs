//! The HTML sanitiser against a corpus of hostile HTML (`tests/hostile_html/*.html`).
//!
//! Every corpus file is sanitised after a block of harmless mail content (text, a link, a
//! table, a `cid:` image). The output is then read back as markup — html5ever serialises
//! canonically: every `<` outside an attribute value starts a tag, attribute values are
//! double-quoted with `"` escaped — and checked element by element and attribute by
//! attribute, on top of plain lower-cased text checks. The harmless block, and the text the
//! file's own test names, must survive.

use std::collections::BTreeSet;
use std::path::PathBuf;

use switchboard_model::sanitize::{sanitize_html, RemoteContent, SanitizedHtml};

const HARMLESS: &str = r#"<p>Harmless greeting, <b>friend</b>.</p>
<table border="1" cellpadding="4"><tr><td>Cell one</td><td>Cell two</td></tr></table>
<a href="https://example.org/page">a harmless link</a>
<img src="cid:logo@example.org" alt="inline logo">
"#;

const ALLOWED_TAGS: &[&str] = &[
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

const ALLOWED_ATTRIBUTES: &[&str] = &[
    "abbr",
    "align",
    "alt",
    "background",
    "bgcolor",
    "border",
    "cellpadding",
    "cellspacing",
    "cite",
    "color",
    "colspan",
    "datetime",
    "dir",
    "face",
    "frame",
    "headers",
    "height",
    "href",
    "hreflang",
    "hspace",
    "lang",
    "noshade",
    "nowrap",
    "open",
    "rel",
    "reversed",
    "rowspan",
    "rules",
    "scope",
    "size",
    "span",
    "src",
    "start",
    "style",
    "summary",
    "target",
    "title",
    "type",
    "valign",
    "value",
    "vspace",
    "width",
];

/// Never in the output, whatever the input: tags of refused elements (text `<` is always
/// escaped, so these can only be markup) and dangerous words (the corpus keeps them out of
/// its visible text).
const NEVER: &[&str] = &[
    "<script",
    "<style",
    "<iframe",
    "<frame",
    "<object",
    "<embed",
    "<applet",
    "<form",
    "<input",
    "<button",
    "<select",
    "<textarea",
    "<meta",
    "<link",
    "<base",
    "<svg",
    "<math",
    "<video",
    "<audio",
    "<source",
    "<picture",
    "<layer",
    "<bgsound",
    "<marquee",
    "<noscript",
    "<template",
    "<xml",
    "<!--",
    "<![cdata",
    "<?",
    "<!doctype",
    "javascript:",
    "vbscript:",
    "livescript:",
    "data:text",
    "data:application",
    "data:image/svg",
    "expression",
    "behavior",
    "-moz-binding",
    "@import",
    "srcset",
    "formaction",
    "xlink:",
];

#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn decode_attr(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The start tags of canonical html5ever output; panics on anything that is not canonical.
fn start_tags(html: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('/') {
            let end = r.find('>').expect("unterminated end tag");
            let name = &r[..end];
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "odd end tag </{name}> in {html}"
            );
            rest = &r[end + 1..];
            continue;
        }
        let name_end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        assert!(!name.is_empty(), "a '<' that starts no tag in {html}");
        rest = &rest[name_end..];
        let mut attrs = Vec::new();
        loop {
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                break;
            }
            let r = rest
                .strip_prefix(' ')
                .unwrap_or_else(|| panic!("odd markup after <{name} in {html}"));
            let eq = r.find('=').expect("attribute without a value");
            let attr = r[..eq].to_string();
            let r = r[eq + 1..]
                .strip_prefix('"')
                .expect("attribute value not quoted");
            let close = r.find('"').expect("unterminated attribute value");
            attrs.push((attr, decode_attr(&r[..close])));
            rest = &r[close + 1..];
        }
        tags.push(Tag { name, attrs });
    }
    tags
}

fn is_remote(url: &str) -> bool {
    let u = url.trim().to_ascii_lowercase();
    u.starts_with("http:") || u.starts_with("https:") || u.starts_with("//")
}

fn is_local_image(url: &str) -> bool {
    let u = url.to_ascii_lowercase();
    u.starts_with("cid:")
        || ["png", "gif", "jpeg", "jpg", "webp", "bmp"]
            .iter()
            .any(|t| u.starts_with(&format!("data:image/{t};")))
}

/// Every URL inside `url(…)` in a style value.
fn style_urls(style: &str) -> Vec<String> {
    let lower = style.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("url(") {
        let r = &rest[i + 4..];
        let end = r.find(')').expect("unterminated url(");
        out.push(r[..end].trim().trim_matches(['"', '\'']).trim().to_string());
        rest = &r[end..];
    }
    out
}

/// The structural safety checks shared by every test.
fn assert_safe(out: &SanitizedHtml, remote: RemoteContent, what: &str) {
    let html = &out.html;
    let lower = html.to_ascii_lowercase();
    for word in NEVER {
        assert!(
            !lower.contains(word),
            "{what}: '{word}' is in the output:\n{html}"
        );
    }
    for tag in start_tags(html) {
        assert!(
            ALLOWED_TAGS.contains(&tag.name.as_str()),
            "{what}: element <{}> is not allowed:\n{html}",
            tag.name
        );
        for (name, value) in &tag.attrs {
            assert!(
                ALLOWED_ATTRIBUTES.contains(&name.as_str()) && !name.starts_with("on"),
                "{what}: attribute {name} on <{}>:\n{html}",
                tag.name
            );
            let v = value.to_ascii_lowercase();
            match name.as_str() {
                "href" => assert!(
                    tag.name == "a"
                        && (v.starts_with("http:")
                            || v.starts_with("https:")
                            || v.starts_with("mailto:")),
                    "{what}: href {value:?}:\n{html}"
                ),
                "cite" => assert!(
                    v.starts_with("http:") || v.starts_with("https:"),
                    "{what}: cite {value:?}"
                ),
                "src" | "background" => assert!(
                    is_local_image(value) || (remote == RemoteContent::Allow && is_remote(value)),
                    "{what}: {name} {value:?} with {remote:?}:\n{html}"
                ),
                "style" => {
                    for url in style_urls(value) {
                        assert!(
                            is_local_image(&url)
                                || (remote == RemoteContent::Allow && is_remote(&url)),
                            "{what}: style url({url}) with {remote:?}:\n{html}"
                        );
                    }
                    for word in ["position", "z-index", "content", "filter", "\\"] {
                        assert!(!v.contains(word), "{what}: style {value:?}");
                    }
                }
                "rel" => assert_eq!(value, "noopener noreferrer", "{what}"),
                "target" => assert_eq!(value, "_blank", "{what}"),
                _ => {}
            }
        }
        if tag.name == "a" {
            assert_eq!(
                tag.attr("rel"),
                Some("noopener noreferrer"),
                "{what}: {html}"
            );
            assert_eq!(tag.attr("target"), Some("_blank"), "{what}: {html}");
        }
    }
    if remote == RemoteContent::Allow {
        assert_eq!(
            out.remote_blocked, 0,
            "{what}: nothing is blocked with Allow"
        );
    }
}

fn assert_harmless_kept(out: &SanitizedHtml, what: &str) {
    let html = &out.html;
    for kept in [
        "<p>Harmless greeting, <b>friend</b>.</p>",
        "<td>Cell one</td><td>Cell two</td>",
        "a harmless link</a>",
    ] {
        assert!(html.contains(kept), "{what}: lost {kept:?}:\n{html}");
    }
    let tags = start_tags(html);
    let table = tags.iter().find(|t| t.name == "table").expect("no table");
    assert_eq!(table.attr("border"), Some("1"));
    assert_eq!(table.attr("cellpadding"), Some("4"));
    assert!(
        tags.iter()
            .any(|t| t.name == "a" && t.attr("href") == Some("https://example.org/page")),
        "{what}: the link lost its href:\n{html}"
    );
    assert!(
        tags.iter().any(|t| t.name == "img"
            && t.attr("src") == Some("cid:logo@example.org")
            && t.attr("alt") == Some("inline logo")),
        "{what}: the cid: image is gone:\n{html}"
    );
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hostile_html")
}

/// Runs one corpus file both ways. `blocked` is how many remote references it holds; `keep`
/// is text or markup of its own that must survive (checked with remote content blocked);
/// `remote` is markup that must appear only once remote content is allowed.
fn check_corpus(name: &str, blocked: usize, keep: &[&str], remote: &[&str]) {
    let path = corpus_dir().join(format!("{name}.html"));
    let hostile = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let input = format!("{HARMLESS}{hostile}");

    let out = sanitize_html(&input, RemoteContent::Block);
    let what = format!("{name} (blocked)");
    assert_safe(&out, RemoteContent::Block, &what);
    assert_harmless_kept(&out, &what);
    for k in keep {
        assert!(out.html.contains(k), "{what}: lost {k:?}:\n{}", out.html);
    }
    assert_eq!(out.remote_blocked, blocked, "{what}:\n{}", out.html);
    for r in remote {
        assert!(!out.html.contains(r), "{what}: {r:?} was not blocked");
    }

    let out = sanitize_html(&input, RemoteContent::Allow);
    let what = format!("{name} (allowed)");
    assert_safe(&out, RemoteContent::Allow, &what);
    assert_harmless_kept(&out, &what);
    for r in remote {
        assert!(
            out.html.contains(r),
            "{what}: {r:?} is missing:\n{}",
            out.html
        );
    }
}

/// The corpus files, each with its own test below.
const CORPUS: &[&str] = &[
    "background_attr",
    "base_href",
    "comments_cdata",
    "css_expression",
    "data_urls",
    "embeds",
    "event_handlers",
    "forms",
    "javascript_urls",
    "math_xlink",
    "meta_refresh",
    "script_tags",
    "style_url",
    "svg_script",
    "tracking_pixel",
    "unclosed_tags",
    "xss_cheatsheet",
];

#[test]
fn every_corpus_file_has_a_test() {
    let found: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CORPUS.iter().map(|n| format!("{n}.html")).collect();
    assert_eq!(found, listed);
}

#[test]
fn script_tags_in_any_casing_are_removed_with_their_content() {
    check_corpus(
        "script_tags",
        0,
        &[
            "<p>Before the scripts.</p>",
            "<div>Inside a div</div>",
            "&lt;script&gt;alert(9)&lt;/script&gt; stays text",
            "<p>After the scripts.</p>",
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("script_tags.html")).unwrap(),
        RemoteContent::Allow,
    );
    for gone in [
        "alert(1)",
        "alert(2)",
        "alert(3)",
        "alert(4)",
        "alert(6)",
        "evil.example",
    ] {
        assert!(!out.html.contains(gone), "{gone} survived:\n{}", out.html);
    }
}

#[test]
fn event_handler_attributes_are_removed() {
    check_corpus(
        "event_handlers",
        0,
        &[
            "<div>Hover text</div>",
            "<p>Click text</p>",
            "Safe link</a>",
            r#"<img src="cid:photo@example" alt="inline photo">"#,
            "<summary>Summary text</summary>Details text",
            "<td>Handler cell</td>",
            r#"<span style="color: green">Green text</span>"#,
            r#"<font color="red">Red font</font>"#,
            "Marquee text",
        ],
        &[],
    );
}

#[test]
fn script_urls_lose_their_attribute_however_written() {
    check_corpus(
        "javascript_urls",
        0,
        &[
            "link one</a>",
            "link ten</a>",
            "link nineteen</a>",
            r#"<img alt="js image">"#,
            "<blockquote>Quoted text</blockquote>",
            r#"href="mailto:bob@example.org""#,
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("javascript_urls.html")).unwrap(),
        RemoteContent::Allow,
    );
    // Only the mailto: link keeps an href.
    let hrefs: Vec<_> = start_tags(&out.html)
        .into_iter()
        .filter_map(|t| t.attr("href").map(str::to_string))
        .collect();
    assert_eq!(hrefs, ["mailto:bob@example.org"]);
}

#[test]
fn dangerous_css_is_dropped_and_plain_css_kept() {
    check_corpus(
        "css_expression",
        0,
        &[
            r#"<div style="color: red">Computed width</div>"#,
            "<div>Computed colour</div>",
            "<div>Comment split value</div>",
            "<div>Escaped computation</div>",
            "<div>Behaviour file</div>",
            "<div>Binding</div>",
            r#"<div style="font-weight: bold">Import</div>"#,
            "<div>JS url</div>",
            "<div>Overlay attempt</div>",
            "<div>IE filter</div>",
            "<div>Image set</div>",
            r#"<div style="font-family: &quot;Arial&quot;, sans-serif">Content property</div>"#,
            r#"<div style="color: blue; font-size: 14px">Harmless style</div>"#,
        ],
        &[],
    );
}

#[test]
fn svg_is_removed_with_its_scripts_and_handlers() {
    check_corpus(
        "svg_script",
        0,
        &[
            "<p>SVG follows.</p>",
            "<p>After SVG.</p>",
            r#"<img alt="svg data">"#,
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("svg_script.html")).unwrap(),
        RemoteContent::Allow,
    );
    assert!(!out.html.contains("tracker.example"), "{}", out.html);
}

#[test]
fn mathml_and_xlink_tricks_are_removed() {
    check_corpus(
        "math_xlink",
        0,
        &[
            "<p>MathML follows.</p>",
            "xlink on html</a>",
            // The namespace-confusion payload at the end swallows the rest of the file; it
            // must not produce an image with a handler (checked by assert_safe).
        ],
        &[],
    );
}

#[test]
fn meta_refresh_and_document_head_are_removed() {
    check_corpus("meta_refresh", 0, &["<p>Body after meta.</p>"], &[]);
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("meta_refresh.html")).unwrap(),
        RemoteContent::Allow,
    );
    for gone in ["refresh", "evil.example", "Evil title", "Set-Cookie"] {
        assert!(!out.html.contains(gone), "{gone} survived:\n{}", out.html);
    }
}

#[test]
fn base_and_link_elements_and_relative_urls_are_removed() {
    check_corpus(
        "base_href",
        0,
        &[
            "relative link</a>",
            "rooted link</a>",
            r#"<img alt="relative image">"#,
            "<p>After base.</p>",
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("base_href.html")).unwrap(),
        RemoteContent::Allow,
    );
    assert!(!out.html.contains("evil.example"), "{}", out.html);
    assert!(!out.html.contains("tracker.example"), "{}", out.html);
    assert!(!out.html.contains("href="), "{}", out.html);
}

#[test]
fn forms_and_controls_are_removed_keeping_their_text() {
    check_corpus(
        "forms",
        0,
        &[
            "<p>Please confirm your password</p>",
            "Go button",
            "Option one",
            "Textarea text",
            "Label text",
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("forms.html")).unwrap(),
        RemoteContent::Allow,
    );
    for gone in ["evil.example", "tracker.example", "password\"", "hidden"] {
        assert!(!out.html.contains(gone), "{gone} survived:\n{}", out.html);
    }
}

#[test]
fn iframes_objects_embeds_and_media_are_removed() {
    check_corpus(
        "embeds",
        0,
        &[
            "<p>Embedded things follow.</p>",
            r#"<img src="cid:pic@example" alt="picture fallback">"#,
            "<p>After embeds.</p>",
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("embeds.html")).unwrap(),
        RemoteContent::Allow,
    );
    for gone in ["evil.example", "tracker.example", "alert"] {
        assert!(!out.html.contains(gone), "{gone} survived:\n{}", out.html);
    }
}

#[test]
fn tracking_pixels_and_remote_images_are_blocked_unless_allowed() {
    check_corpus(
        "tracking_pixel",
        5,
        &[
            "<p>Newsletter text.</p>",
            r#"<img alt="candidate set only">"#,
            r#"<img src="cid:logo@example" alt="Inline logo">"#,
        ],
        &[
            r#"src="https://tracker.example/open.gif?u=123""#,
            r#"src="http://tracker.example/p.png""#,
            r#"src="https://tracker.example/protocol-relative.gif""#,
            r#"src="HTTPS://tracker.example/upper.gif""#,
            r#"src="https://cdn.example/logo.png""#,
        ],
    );
    let blocked = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("tracking_pixel.html")).unwrap(),
        RemoteContent::Block,
    );
    assert!(
        !blocked.html.contains("tracker.example"),
        "{}",
        blocked.html
    );
    assert!(!blocked.html.contains("cdn.example"), "{}", blocked.html);
    // The placeholder: the element stays with its alt text and size, without src.
    let logo = start_tags(&blocked.html)
        .into_iter()
        .find(|t| t.attr("alt") == Some("Company logo"))
        .expect("the blocked image element is kept");
    assert_eq!(logo.attr("src"), None);
    assert_eq!(logo.attr("width"), Some("200"));
    assert_eq!(logo.attr("height"), Some("50"));
}

#[test]
fn remote_background_attributes_are_blocked_unless_allowed() {
    check_corpus(
        "background_attr",
        3,
        &[
            "Cell text</td>",
            "<td>JS background cell</td>",
            r#"<td background="cid:bg@example">Cid background cell</td>"#,
            "<div>Div with background</div>",
        ],
        &[
            r#"<table background="http://img.example/table-bg.jpg" width="600">"#,
            r#"<tr background="https://img.example/row-bg.jpg">"#,
            r#"<td background="https://img.example/cell-bg.png">"#,
        ],
    );
}

#[test]
fn remote_style_urls_are_blocked_unless_allowed() {
    check_corpus(
        "style_url",
        6,
        &[
            r#"<div style="color: blue">Styled div</div>"#,
            "<p>Shorthand</p>",
            "<li>List item</li>",
            r#"<td style="background: url(cid:bg@x)">Cid style cell</td>"#,
            r#"<div style="font-size: 12px">Spaced url</div>"#,
        ],
        &[
            "url(http://img.example/a.png); color: blue",
            "url('https://img.example/b.png') no-repeat",
            "url(&quot;http://img.example/c.png&quot;)",
            "url(http://img.example/cursor.cur), auto",
            "url(//img.example/border.png) 30 round",
        ],
    );
}

#[test]
fn comments_cdata_and_conditional_comments_hide_nothing() {
    check_corpus(
        "comments_cdata",
        0,
        &["<p>After comments.</p>", "<p>Commented word.</p>"],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("comments_cdata.html")).unwrap(),
        RemoteContent::Allow,
    );
    assert!(!out.html.contains("OfficeDocumentSettings"), "{}", out.html);
}

#[test]
fn unclosed_tags_are_closed_and_stay_harmless() {
    check_corpus(
        "unclosed_tags",
        0,
        &[
            "<p>Unclosed paragraph<b>bold text<i>italic text",
            "<td>Unclosed cell",
            r#"<a href="https://ok.example/" target="_blank" rel="noopener noreferrer">open link"#,
        ],
        &[],
    );
    let out = sanitize_html(
        &std::fs::read_to_string(corpus_dir().join("unclosed_tags.html")).unwrap(),
        RemoteContent::Allow,
    );
    // The image whose attribute never closes is never a tag at all, and the unclosed script
    // takes the rest of the input with it.
    assert!(!out.html.contains("tracker.example"), "{}", out.html);
    assert!(!out.html.contains("alert(2)"), "{}", out.html);
}

#[test]
fn data_urls_only_for_raster_images() {
    check_corpus(
        "data_urls",
        0,
        &[
            r#"<img src="data:image/png;base64,iVBORw0KGgo"#,
            r#"<img alt="svg data image">"#,
            r#"<img alt="html data image">"#,
            "data link</a>",
            r#"<div style="background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=)">Data background</div>"#,
            "<div>SVG data background</div>",
        ],
        &[],
    );
}

#[test]
fn the_xss_cheat_sheet_is_defused() {
    check_corpus(
        "xss_cheatsheet",
        0,
        &[
            "<li>XSS list<br></li>",
            "<td>Cheat cell</td>",
            "<div>Cheat div</div>",
            "<div>Escaped url</div>",
            r#"<a href="http://evil.example/" style="width: 100%; height: 100%" target="_blank" rel="noopener noreferrer">Overlay link</a>"#,
            "Protocol relative link</a>",
            r#"<a href="http://example.org/" target="_blank" rel="noopener noreferrer">Ping link</a>"#,
            "<div>Id and class</div>",
        ],
        &[],
    );
}

#[test]
fn a_plain_newsletter_keeps_its_layout() {
    let html = r##"<table width="600" cellspacing="0" cellpadding="10" bgcolor="#ffffff" align="center">
<tr><td valign="top" style="font-family: Arial, sans-serif; font-size: 14px; color: #333333; padding: 10px 20px">
<h1 style="margin: 0">Hello</h1><p>Some <a href="https://shop.example/sale?a=1&amp;b=2">news</a>.</p>
<center><font face="Verdana" size="2" color="#999999">Unsubscribe</font></center>
</td></tr></table>"##;
    let out = sanitize_html(html, RemoteContent::Block);
    assert_eq!(out.remote_blocked, 0);
    assert_safe(&out, RemoteContent::Block, "newsletter");
    assert_eq!(
        out.html,
        r##"<table width="600" cellspacing="0" cellpadding="10" bgcolor="#ffffff" align="center">
<tbody><tr><td valign="top" style="font-family: Arial, sans-serif; font-size: 14px; color: #333333; padding: 10px 20px">
<h1 style="margin: 0">Hello</h1><p>Some <a href="https://shop.example/sale?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">news</a>.</p>
<center><font face="Verdana" size="2" color="#999999">Unsubscribe</font></center>
</td></tr></tbody></table>"##
    );
}

#[test]
fn allow_keeps_remote_images_exactly_and_still_sanitises() {
    let html = r#"<img src="https://img.example/a.png?x=1&amp;y=2" alt="A" onerror="alert(1)"><script>alert(2)</script>"#;
    let allowed = sanitize_html(html, RemoteContent::Allow);
    assert_eq!(
        allowed.html,
        r#"<img src="https://img.example/a.png?x=1&amp;y=2" alt="A">"#
    );
    assert_eq!(allowed.remote_blocked, 0);
    let blocked = sanitize_html(html, RemoteContent::Block);
    assert_eq!(blocked.html, r#"<img alt="A">"#);
    assert_eq!(blocked.remote_blocked, 1);
    assert_eq!(RemoteContent::default(), RemoteContent::Block);
}

#[test]
fn empty_and_text_only_input() {
    assert_eq!(
        sanitize_html("", RemoteContent::Block),
        SanitizedHtml::default()
    );
    let out = sanitize_html("1 < 2 & 3 > 2", RemoteContent::Block);
    assert_eq!(out.html, "1 &lt; 2 &amp; 3 &gt; 2");
}

#[test]
fn deep_nesting_does_not_overflow() {
    // (html5ever's tree building is quadratic in nesting depth, so this stays moderate.)
    let html = format!("{}deep{}", "<div>".repeat(5_000), "</div>".repeat(5_000));
    let out = sanitize_html(&html, RemoteContent::Block);
    assert!(out.html.contains("deep"));
    // Below the nesting limit every remote image is counted; above it the text alone is shown
    // and nothing can load.
    let html = "<b><img src=\"http://t.example/x\">".repeat(900);
    let out = sanitize_html(&html, RemoteContent::Block);
    assert_eq!(out.remote_blocked, 900);
    let html = "<b><img src=\"http://t.example/x\">".repeat(5_000);
    let out = sanitize_html(&html, RemoteContent::Allow);
    assert!(!out.html.contains("<img"));
}

#[test]
fn absurd_nesting_is_shown_as_text_without_spending_seconds() {
    let depth = 50_000;
    let mut html = String::new();
    for _ in 0..depth {
        html.push_str("<div>");
    }
    html.push_str("deep <b>text</b> & <script>alert(1)</script>");
    let out = sanitize_html(&html, RemoteContent::Block);
    assert!(out.html.starts_with("<pre>"), "{}", &out.html[..40]);
    assert!(out.html.contains("deep text &amp; alert(1)"));
    assert!(!out.html.contains("<div"));
    assert!(!out.html.contains("<script"));
    assert!(!out.html.contains("<b>"));

    // Ordinary nesting, as in layout tables, still goes through the sanitiser.
    let mut tables = String::new();
    for _ in 0..40 {
        tables.push_str("<table><tr><td>");
    }
    tables.push_str("cell");
    for _ in 0..40 {
        tables.push_str("</td></tr></table>");
    }
    let out = sanitize_html(&tables, RemoteContent::Block);
    assert!(out.html.contains("<table>"), "{}", &out.html[..60]);
}
