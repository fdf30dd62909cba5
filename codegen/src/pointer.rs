//! JSON pointers (RFC 6901) into a schema document, as codegen's errors and changes name them.

/// `pointer` extended by one segment, escaped (`~` → `~0`, `/` → `~1`).
pub fn join(pointer: &str, segment: &str) -> String {
    format!("{pointer}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

/// The pointer of a message type's entry: `/schemas/<type>`.
pub fn message(message_type: &str) -> String {
    join("/schemas", message_type)
}

/// The pointer of a task's entry: `/tasks/<name>`.
pub fn task(name: &str) -> String {
    join("/tasks", name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_escaped() {
        assert_eq!(super::join("/definitions", "a/b~c"), "/definitions/a~1b~0c");
        assert_eq!(super::message("user.created"), "/schemas/user.created");
        assert_eq!(super::task("billing/x"), "/tasks/billing~1x");
    }
}
