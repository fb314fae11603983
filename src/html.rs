//! HTML escaping for the markup the crate writes itself (the invitation mail, FakeEntra's
//! sign-in page).

/// Escapes `&`, `<`, `>`, `"` and `'`: enough for element text and quoted attribute values.
/// Unlike minijinja's own escaper it leaves `/` alone, so links stay readable in the HTML
/// source and to link scanners.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}
