//! Diesel table definitions shared by both backends; only portable types (times are Unix ms).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    incidents (id) {
        id -> BigInt,
        key -> Text,
        title -> Text,
        severity -> Nullable<Text>,
        status -> Text,
        service -> Nullable<Text>,
        started_at -> BigInt,
        resolved_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    posts (id) {
        id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        incident_id -> Nullable<BigInt>,
        reply_to -> Nullable<BigInt>,
        created_at -> BigInt,
        edited_at -> Nullable<BigInt>,
        deleted_at -> Nullable<BigInt>,
        replies_count -> Integer,
        reactions_count -> Integer,
        import_key -> Nullable<Text>,
    }
}

diesel::table! {
    post_versions (id) {
        id -> BigInt,
        post_id -> BigInt,
        body -> Text,
        written_at -> BigInt,
        replaced_at -> BigInt,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        key -> Text,
        display -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    post_tags (post_id, tag_id) {
        post_id -> BigInt,
        tag_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    post_mentions (post_id, user_id) {
        post_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::table! {
    reactions (post_id, user_id) {
        post_id -> BigInt,
        user_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    post_changes (seq) {
        seq -> BigInt,
        post_id -> BigInt,
        kind -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    tag_hours (tag_id, hour) {
        tag_id -> BigInt,
        hour -> BigInt,
        posts -> Integer,
    }
}

diesel::table! {
    tag_hour_authors (tag_id, hour, author_id) {
        tag_id -> BigInt,
        hour -> BigInt,
        author_id -> BigInt,
        posts -> Integer,
    }
}

diesel::table! {
    tag_hour_incidents (tag_id, hour, incident_id) {
        tag_id -> BigInt,
        hour -> BigInt,
        incident_id -> BigInt,
        posts -> Integer,
    }
}

diesel::table! {
    tag_pair_hours (tag_a, tag_b, hour) {
        tag_a -> BigInt,
        tag_b -> BigInt,
        hour -> BigInt,
        posts -> Integer,
    }
}

diesel::table! {
    post_hours (hour) {
        hour -> BigInt,
        posts -> Integer,
    }
}

diesel::table! {
    tag_authors (tag_id, author_id) {
        tag_id -> BigInt,
        author_id -> BigInt,
        first_hour -> BigInt,
        last_hour -> BigInt,
    }
}

diesel::table! {
    tag_incidents (tag_id, incident_id) {
        tag_id -> BigInt,
        incident_id -> BigInt,
        first_hour -> BigInt,
        last_hour -> BigInt,
    }
}

diesel::table! {
    tag_days (day, tag_id) {
        day -> BigInt,
        tag_id -> BigInt,
        posts -> Integer,
        last_authors -> Integer,
        last_incidents -> Integer,
    }
}

diesel::table! {
    tag_weeks (week, tag_id) {
        week -> BigInt,
        tag_id -> BigInt,
        posts -> Integer,
        last_authors -> Integer,
        last_incidents -> Integer,
    }
}

diesel::table! {
    follows (user_id, tag_id) {
        user_id -> BigInt,
        tag_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    feed_tokens (user_id) {
        user_id -> BigInt,
        token -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor_id -> Nullable<BigInt>,
        action -> Text,
        target -> Text,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    instance_settings (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    rollup_epoch (id) {
        id -> Integer,
        epoch -> BigInt,
    }
}

diesel::table! {
    tag_curation (tag_id) {
        tag_id -> BigInt,
        description -> Text,
        kind -> Nullable<Text>,
        hidden_from_trends -> Integer,
        updated_by -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tag_aliases (tag_id) {
        tag_id -> BigInt,
        canonical_id -> BigInt,
        merged_by -> Nullable<BigInt>,
        merged_at -> BigInt,
    }
}

diesel::table! {
    insights (id) {
        id -> BigInt,
        title -> Text,
        problem -> Text,
        status -> Text,
        dismissed_reason -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        query -> Text,
        created_by -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    insight_tags (insight_id, tag_id) {
        insight_id -> BigInt,
        tag_id -> BigInt,
    }
}

diesel::table! {
    insight_evidence (insight_id, kind, ref_id) {
        insight_id -> BigInt,
        kind -> Text,
        ref_id -> BigInt,
        pinned_by -> BigInt,
        pinned_at -> BigInt,
    }
}

diesel::table! {
    insight_comments (id) {
        id -> BigInt,
        insight_id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        insight_id -> Nullable<BigInt>,
        post_id -> Nullable<BigInt>,
        actor_id -> Nullable<BigInt>,
        created_at -> BigInt,
        read_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(audit_events -> users (actor_id));
diesel::joinable!(follows -> tags (tag_id));
diesel::joinable!(posts -> users (author_id));
diesel::joinable!(posts -> incidents (incident_id));
diesel::joinable!(post_tags -> posts (post_id));
diesel::joinable!(post_tags -> tags (tag_id));
diesel::joinable!(post_mentions -> posts (post_id));
diesel::joinable!(post_mentions -> users (user_id));
diesel::joinable!(reactions -> posts (post_id));
diesel::joinable!(post_versions -> posts (post_id));
diesel::joinable!(insight_tags -> insights (insight_id));
diesel::joinable!(insight_tags -> tags (tag_id));
diesel::joinable!(insight_comments -> insights (insight_id));
diesel::joinable!(insight_comments -> users (author_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    sessions,
    incidents,
    posts,
    post_versions,
    tags,
    post_tags,
    post_mentions,
    reactions,
    post_changes,
    tag_hours,
    tag_hour_authors,
    tag_hour_incidents,
    tag_pair_hours,
    post_hours,
    tag_authors,
    tag_incidents,
    tag_days,
    tag_weeks,
    follows,
    feed_tokens,
    audit_events,
    tag_aliases,
    tag_curation,
    insights,
    insight_tags,
    insight_evidence,
    insight_comments,
    notifications,
);
