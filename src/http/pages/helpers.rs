//! Handlebars helpers used by the templates.

use handlebars::{handlebars_helper, Handlebars};

handlebars_helper!(plural: |count: i64, one: str, many: str| {
    if count == 1 { format!("{count} {one}") } else { format!("{count} {many}") }
});

/// Registers i2i's helpers.
pub fn register(handlebars: &mut Handlebars<'static>) {
    handlebars.register_helper("plural", Box::new(plural));
}
