//! `index.html`: one self-contained page (no scripts, no network) with the SVGs inlined, so it
//! reads the same offline and when the folder is moved. It is also well-formed XML (void elements
//! self-closed), so tests can parse it and check its links.

use super::charts::escape;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1700px;color:#222}\
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:13px}\
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}\
.chart svg{max-width:100%;height:auto}";

/// One section of a page.
pub enum Section {
    /// A heading and a paragraph of text.
    Text(String, String),
    /// A heading and preformatted text (tables, JSON).
    Pre(String, String),
    /// A table: heading, header row, body rows.
    Table(String, Vec<String>, Vec<Vec<String>>),
    /// Charts, inlined: (file name, SVG text).
    Charts(Vec<(String, String)>),
    /// Links to other pages of the report: (label, relative path).
    Links(String, Vec<(String, String)>),
}

/// The whole page.
pub fn page(title: &str, sections: &[Section]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    for section in sections {
        out.push_str(&render(section));
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn render(section: &Section) -> String {
    match section {
        Section::Text(heading, text) => {
            format!("<h2>{}</h2>\n<p>{}</p>\n", escape(heading), escape(text))
        }
        Section::Pre(heading, text) => {
            format!(
                "<h2>{}</h2>\n<pre>{}</pre>\n",
                escape(heading),
                escape(text)
            )
        }
        Section::Table(heading, header, rows) => table(heading, header, rows),
        Section::Charts(charts) => {
            let mut out = String::from("<h2>Charts</h2>\n<div class=\"charts\">\n");
            for (file, svg) in charts {
                out.push_str(&format!(
                    "<figure class=\"chart\" id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                    escape(file),
                    strip_prolog(svg),
                    escape(file)
                ));
            }
            out.push_str("</div>\n");
            out
        }
        Section::Links(heading, links) => {
            let mut out = format!("<h2>{}</h2>\n<ul>\n", escape(heading));
            for (label, href) in links {
                out.push_str(&format!(
                    "<li><a href=\"{}\">{}</a></li>\n",
                    escape(href),
                    escape(label)
                ));
            }
            out.push_str("</ul>\n");
            out
        }
    }
}

fn table(heading: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let cells = |row: &[String], tag: &str| {
        let inner: String = row
            .iter()
            .map(|cell| format!("<{tag}>{}</{tag}>", escape(cell)))
            .collect();
        format!("<tr>{inner}</tr>\n")
    };
    let mut out = format!("<h2>{}</h2>\n<table>\n", escape(heading));
    out.push_str(&cells(header, "th"));
    for row in rows {
        out.push_str(&cells(row, "td"));
    }
    out.push_str("</table>\n");
    out
}

/// An inlined SVG must not carry an XML declaration.
fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    }
}
