//! The one place the search index's fields are declared. Bump [`SCHEMA_VERSION`] whenever a
//! field or its options change: an index of another version is rebuilt from the database.

use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST,
    INDEXED, STORED, STRING,
};

/// Version of the fields below; stored in every commit's payload.
pub const SCHEMA_VERSION: u32 = 3;

/// Handles to every field, resolved once.
#[derive(Debug, Clone)]
pub struct Fields {
    /// Post id: the key documents are replaced and deleted by.
    pub id: Field,
    /// Body, English-stemmed with positions: words match their inflections.
    pub body: Field,
    /// Body, lower-cased but not stemmed, with positions: `"exact"` phrases with a word
    /// outside the generation's common words, and the document frequencies behind
    /// "distinctive words".
    pub body_exact: Field,
    /// Pairs of adjacent common exact words ([`super::shingles`]), with positions: a
    /// two-word phrase of common words is one of these terms, a longer one a phrase over them.
    pub body_pairs: Field,
    /// Normalised tag keys, one value per tag, raw and fast for facets.
    pub tags: Field,
    pub author: Field,
    pub incident: Field,
    pub service: Field,
    pub severity: Field,
    /// The incident's status when the post was (re)indexed.
    pub status: Field,
    /// `reply` and/or `incident`, for `is:reply` and `has:incident`.
    pub flags: Field,
    pub created_at: Field,
}

/// Builds the schema and its field handles.
pub fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |tokenizer: &str, record: IndexRecordOption, stored: bool| {
        let indexing = TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let keyword = STRING | FAST;
    let fields = Fields {
        id: builder.add_u64_field("id", INDEXED | STORED | FAST),
        // Positions on the stemmed body: a word the stemmer or the word splitter turns into
        // several tokens (`e-mail`) is matched as a phrase of them.
        body: builder.add_text_field(
            "body",
            text(super::stems::TOKENIZER, IndexRecordOption::WithFreqsAndPositions, true),
        ),
        body_exact: builder
            .add_text_field("body_exact", text("default", IndexRecordOption::WithFreqsAndPositions, false)),
        body_pairs: builder.add_text_field(
            "body_pairs",
            text(super::shingles::TOKENIZER, IndexRecordOption::WithFreqsAndPositions, false),
        ),
        tags: builder.add_text_field("tags", keyword.clone()),
        author: builder.add_text_field("author", keyword.clone()),
        incident: builder.add_text_field("incident", keyword.clone()),
        service: builder.add_text_field("service", keyword.clone()),
        severity: builder.add_text_field("severity", keyword.clone()),
        status: builder.add_text_field("status", keyword.clone()),
        flags: builder.add_text_field("flags", STRING),
        created_at: builder.add_date_field(
            "created_at",
            DateOptions::from(INDEXED | STORED | FAST).set_precision(DateTimePrecision::Milliseconds),
        ),
    };
    (builder.build(), fields)
}
