//! The catalogue's diagram: columns of nodes (publishers → topics → consumer queues, or
//! dispatchers and schedules → priority queues → workers) joined left to right, drawn as
//! an SVG by owlpost itself (the HTML page needs no script and no network) and written as
//! Mermaid for the markdown page (which code hosts render).
//!
//! The layout is a fixed grid: a column per stage, nodes stacked in the order added, each
//! column centred on the tallest. Text is monospace, so a label's width is known without a
//! font: the same input gives the same bytes.

use std::fmt::Write as _;

/// What a node stands for, which sets its shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A service, a message type or a task: a rectangle.
    Actor,
    /// A topic or a queue: a rounded rectangle.
    Channel,
    /// A schedule: a rectangle with a dashed border.
    Schedule,
}

/// One node.
pub struct Node {
    /// Unique in the graph (`topic:user-created-v1`); the SVG's `data-node`.
    pub id: String,
    /// The first line.
    pub label: String,
    /// A second, smaller line.
    pub detail: Option<String>,
    /// An anchor on the page (`user-created-v1`) the node links to.
    pub link: Option<String>,
    pub shape: Shape,
}

/// A diagram of `columns` stages.
pub struct Graph {
    titles: Vec<&'static str>,
    columns: Vec<Vec<Node>>,
    /// By node id, left to right.
    edges: Vec<(String, String)>,
}

const CHAR_WIDTH: usize = 8;
const DETAIL_CHAR_WIDTH: usize = 7;
const PADDING: usize = 12;
const LINE: usize = 18;
const GAP: usize = 12;
const COLUMN_GAP: usize = 80;
const TOP: usize = 36;

impl Graph {
    /// An empty diagram with a column per title.
    pub fn new(titles: &[&'static str]) -> Self {
        Self { titles: titles.to_vec(), columns: titles.iter().map(|_| Vec::new()).collect(), edges: Vec::new() }
    }

    /// Adds `node` to `column` unless a node with its id is there already.
    pub fn node(&mut self, column: usize, node: Node) {
        if !self.columns.iter().flatten().any(|n| n.id == node.id) {
            self.columns[column].push(node);
        }
    }

    /// Joins two nodes (once).
    pub fn edge(&mut self, from: &str, to: &str) {
        let edge = (from.to_owned(), to.to_owned());
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// The diagram as an inline SVG element.
    pub fn svg(&self) -> String {
        let columns: Vec<(usize, &str, &Vec<Node>)> = self
            .titles
            .iter()
            .zip(&self.columns)
            .filter(|(_, nodes)| !nodes.is_empty())
            .map(|(title, nodes)| (width(title, nodes), *title, nodes))
            .collect();
        let column_height = |nodes: &Vec<Node>| nodes.iter().map(|n| height(n) + GAP).sum::<usize>();
        let tallest = columns.iter().map(|(_, _, nodes)| column_height(nodes)).max().unwrap_or(0);
        let mut boxes = Vec::new(); // (node, x, y, width)
        let mut x = PADDING;
        let mut body = String::new();
        for (column_width, title, nodes) in &columns {
            let _ = write!(body, r#"<text class="column" x="{x}" y="20">{}</text>"#, escape(title));
            let mut y = TOP + (tallest - column_height(nodes)) / 2;
            for node in nodes.iter() {
                boxes.push((node, x, y, *column_width));
                y += height(node) + GAP;
            }
            x += column_width + COLUMN_GAP;
        }
        let (total_width, total_height) = (x - COLUMN_GAP + PADDING, TOP + tallest + PADDING);
        let find = |id: &str| boxes.iter().find(|(node, ..)| node.id == id);
        for (from, to) in &self.edges {
            let (Some((a, ax, ay, aw)), Some((b, bx, by, _))) = (find(from), find(to)) else { continue };
            let (x1, y1, x2, y2) = (ax + aw, ay + height(a) / 2, *bx, by + height(b) / 2);
            let middle = (x1 + x2) / 2;
            let _ = write!(
                body,
                r#"<path class="edge" data-from="{}" data-to="{}" marker-end="url(#arrow)" d="M{x1} {y1} C{middle} {y1} {middle} {y2} {x2} {y2}"/>"#,
                escape(from),
                escape(to)
            );
        }
        for (node, x, y, width) in &boxes {
            body.push_str(&node_svg(node, *x, *y, *width));
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" role="img" viewBox="0 0 {total_width} {total_height}" width="{total_width}" height="{total_height}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z"/></marker></defs>{body}</svg>"##
        )
    }

    /// The diagram as a Mermaid flowchart.
    pub fn mermaid(&self) -> String {
        let mut lines = vec!["flowchart LR".to_owned()];
        let index = |id: &str| self.columns.iter().flatten().position(|n| n.id == id);
        for (n, node) in self.columns.iter().flatten().enumerate() {
            let text = match &node.detail {
                Some(detail) => format!("{}<br/><small>{}</small>", mermaid_text(&node.label), mermaid_text(detail)),
                None => mermaid_text(&node.label),
            };
            let shape = match node.shape {
                Shape::Actor => format!("[\"{text}\"]"),
                Shape::Channel => format!("[[\"{text}\"]]"),
                Shape::Schedule => format!("([\"{text}\"])"),
            };
            lines.push(format!("  n{n}{shape}"));
        }
        for (from, to) in &self.edges {
            if let (Some(a), Some(b)) = (index(from), index(to)) {
                lines.push(format!("  n{a} --> n{b}"));
            }
        }
        lines.join("\n")
    }
}

fn height(node: &Node) -> usize {
    if node.detail.is_some() { 2 * LINE + 8 } else { LINE + 10 }
}

fn width(title: &str, nodes: &[Node]) -> usize {
    let text = |node: &Node| {
        let detail = node.detail.as_ref().map_or(0, |d| d.chars().count() * DETAIL_CHAR_WIDTH);
        (node.label.chars().count() * CHAR_WIDTH).max(detail)
    };
    nodes.iter().map(text).max().unwrap_or(0).max(title.chars().count() * CHAR_WIDTH) + 2 * PADDING
}

fn node_svg(node: &Node, x: usize, y: usize, width: usize) -> String {
    let (class, radius) = match node.shape {
        Shape::Actor => ("actor", 2),
        Shape::Channel => ("channel", 12),
        Shape::Schedule => ("schedule", 2),
    };
    let h = height(node);
    let mut text = format!(r#"<text x="{}" y="{}">{}</text>"#, x + PADDING, y + LINE, escape(&node.label));
    if let Some(detail) = &node.detail {
        let _ =
            write!(text, r#"<text class="detail" x="{}" y="{}">{}</text>"#, x + PADDING, y + 2 * LINE, escape(detail));
    }
    let inner = format!(
        r#"<title>{}</title><rect x="{x}" y="{y}" width="{width}" height="{h}" rx="{radius}"/>{text}"#,
        escape(&node.id)
    );
    let inner = match &node.link {
        Some(anchor) => format!(r##"<a href="#{}">{inner}</a>"##, escape(anchor)),
        None => inner,
    };
    format!(r#"<g class="node {class}" data-node="{}">{inner}</g>"#, escape(&node.id))
}

/// Text for XML content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Text inside a quoted Mermaid label: Mermaid's own entity escapes.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, shape: Shape) -> Node {
        Node { id: id.into(), label: id.into(), detail: Some("<d>".into()), link: Some(id.into()), shape }
    }

    #[test]
    fn every_node_and_edge_is_drawn_once_with_escaped_text() {
        let mut graph = Graph::new(&["From", "To", "Unused"]);
        graph.node(0, node("a&b", Shape::Actor));
        graph.node(0, node("a&b", Shape::Actor));
        graph.node(1, node("t", Shape::Channel));
        graph.edge("a&b", "t");
        graph.edge("a&b", "t");
        graph.edge("a&b", "missing");
        let svg = graph.svg();
        assert_eq!(svg.matches("<g class=\"node").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"edge\"").count(), 1, "{svg}");
        assert!(svg.contains(r#"data-node="a&amp;b""#) && svg.contains("&lt;d&gt;"), "{svg}");
        assert!(!svg.contains("Unused"), "an empty column has no title: {svg}");
        let mermaid = graph.mermaid();
        assert_eq!(
            mermaid,
            "flowchart LR\n  n0[\"a&b<br/><small>#lt;d#gt;</small>\"]\n  n1[[\"t<br/><small>#lt;d#gt;</small>\"]]\n  n0 --> n1"
        );
    }

    #[test]
    fn a_shorter_column_is_centred_on_the_tallest() {
        let mut graph = Graph::new(&["A", "B"]);
        for id in ["a1", "a2", "a3"] {
            graph.node(0, node(id, Shape::Actor));
        }
        graph.node(1, node("b", Shape::Channel));
        let svg = graph.svg();
        let y = |id: &str| {
            let at = svg.find(&format!("data-node=\"{id}\"")).unwrap();
            let rect = &svg[at..][svg[at..].find("<rect").unwrap()..];
            rect.split("y=\"").nth(1).unwrap().split('"').next().unwrap().parse::<usize>().unwrap()
        };
        assert_eq!(y("b"), y("a2"), "{svg}");
    }
}
