//! One behavioural suite for every orgd store implementation.
//!
//! Each `pub async fn` here takes a fresh, empty, migrated store, builds its
//! data through the store traits only (no SQL) and panics when the store
//! misbehaves. [`store_suite!`] turns the whole list into `#[tokio::test]`s in
//! a store crate's integration tests:
//!
//! ```text
//! async fn fresh() -> (MyStore, Guard) { /* a new empty database */ }
//!
//! orgd_store_tests::store_suite!(fresh());
//! ```
//!
//! The suite's expectations go slightly beyond the trait docs where stores
//! must agree with each other: ids, paths and tag names compare bytewise
//! (tags come back in byte order of their names), name prefixes match
//! case-sensitively and literally (no `LIKE` wildcards), the access log's
//! `user` and `action` filters and usage keys match exactly, `add_counters`
//! sums deltas repeated within one call, and timestamps keep exactly
//! millisecond precision.

// A test-support crate: panicking on a failed expectation is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access_log;
pub mod audit;
pub mod consumption;
pub mod fixtures;
pub mod idempotency;
pub mod keys;
pub mod orgs;
pub mod resources;
pub mod tags;
pub mod tx;

/// Expands to one `#[tokio::test]` per behaviour of the suite.
///
/// `$make` is an expression evaluated afresh in every test whose value is a
/// future resolving to `(store, guard)`: `store` implements
/// [`orgd_core::store::Store`] and is new, empty and migrated; `guard` is
/// whatever keeps it alive (a temporary directory, a throwaway database) and
/// is dropped after the store is closed. For example `fresh()` for an
/// `async fn fresh()`, or an `async { ... }` block.
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) among
/// its dev-dependencies.
#[macro_export]
macro_rules! store_suite {
    // `optional`: `$make` resolves to `Option<(store, guard)>`, and `None`
    // (a store that cannot be reached here, which `$make` reports) ends each
    // test at once.
    (optional $make:expr) => {
        $crate::store_suite!(@list optional $make);
    };
    ($make:expr) => {
        $crate::store_suite!(@list required $make);
    };
    (@list $mode:ident $make:expr) => {
        $crate::store_suite!(@tests $mode $make;
            orgs::inserted_org_reads_back_with_every_field,
            orgs::root_org_finds_the_parentless_org,
            orgs::inserting_an_existing_id_conflicts,
            orgs::inserting_the_id_of_a_tombstoned_org_conflicts,
            orgs::update_org_writes_every_field,
            orgs::listing_a_subtree_excludes_siblings_sharing_an_id_prefix,
            orgs::listing_includes_the_subtree_root_only_when_asked,
            orgs::listing_filters_by_parent,
            orgs::listing_filters_by_name_prefix,
            orgs::listing_skips_tombstoned_orgs,
            orgs::listing_orders_by_id_bytewise,
            orgs::listing_pages_by_id_and_returns_at_most_limit_plus_one,
            orgs::moving_a_subtree_rewrites_paths_and_depths_inside_it_only,
            orgs::moving_a_subtree_up_reduces_depths,
            orgs::count_live_children_counts_direct_live_children_only,
            orgs::max_depth_in_subtree_ignores_tombstones_and_siblings,
            orgs::live_subtree_lists_live_orgs_deepest_first,
            orgs::configs_round_trip_through_insert_and_update,
            orgs::orgs_by_ids_returns_exactly_the_asked_orgs,
            orgs::all_org_ids_lists_every_org_tombstones_included_bytewise,
            orgs::listing_filters_by_tags_requiring_all_of_them,
            tags::inserted_tags_load_with_the_org_ordered_by_name,
            tags::tags_load_with_locked_listed_and_fetched_orgs,
            tags::root_org_loads_its_tags,
            tags::a_duplicate_tag_name_in_one_org_conflicts,
            tags::deleting_a_tag_returns_it_once,
            tags::insert_org_and_update_org_leave_tags_alone,
            keys::inserted_key_reads_back_by_id_and_by_digest,
            keys::key_by_digest_finds_revoked_keys_of_tombstoned_orgs,
            keys::inserting_a_duplicate_digest_or_id_conflicts,
            keys::listing_keys_skips_revoked_ones_and_pages_by_id,
            keys::revoke_key_sets_revoked_at,
            keys::touch_key_sets_last_used_at,
            resources::inserted_resources_read_back_with_every_field_per_org_and_kind,
            resources::resource_names_are_unique_per_org_and_kind,
            resources::listing_resources_pages_by_id_and_returns_at_most_limit_plus_one,
            resources::deleting_a_resource_returns_it_once,
            resources::delete_org_resources_removes_every_kind_of_that_org_only,
            resources::count_live_keys_counts_keys_neither_revoked_nor_expired,
            resources::limit_checks_under_lock_org_admit_exactly_the_limit,
            resources::resource_writes_of_a_dropped_transaction_are_not_visible,
            audit::inserted_events_read_back_and_the_newest_is_the_head,
            audit::inserting_a_duplicate_seq_conflicts,
            audit::org_events_are_newest_first_and_page_by_seq,
            audit::org_events_filter_by_action_and_key,
            audit::org_events_filter_by_time_start_inclusive_end_exclusive,
            audit::subtree_events_cover_strict_descendants_only_newest_first,
            audit::subtree_events_page_by_their_global_order,
            audit::subtree_events_apply_the_filters,
            audit::subtree_events_of_a_large_subtree_page_and_filter_alike,
            audit::chain_events_are_oldest_first_after_a_seq,
            idempotency::claimed_idempotency_key_reads_back_without_a_response,
            idempotency::claiming_a_claimed_idempotency_key_conflicts,
            idempotency::completing_an_idempotency_key_stores_the_response,
            idempotency::deleting_an_idempotency_key_frees_it,
            idempotency::pruning_removes_only_older_idempotency_records,
            access_log::inserting_access_entries_keeps_only_those_of_existing_orgs,
            access_log::access_entries_read_back_with_every_field,
            access_log::access_entries_are_newest_first_by_timestamp_then_position,
            access_log::access_entries_filter_by_time_user_action_and_status,
            access_log::access_entries_page_by_timestamp_and_position,
            access_log::pruning_the_access_log_removes_older_entries_at_most_max_rows_per_call,
            access_log::pruning_the_access_log_looks_at_entries_in_write_order,
            access_log::a_large_batch_of_access_entries_is_stored_in_one_call,
            access_log::access_entries_from_many_batches_page_in_one_order,
            access_log::pruning_part_of_a_batch_keeps_the_rest_in_place,
            consumption::add_counters_accumulate_across_calls_and_drop_unknown_orgs,
            consumption::add_counters_sums_repeated_counters_within_one_call,
            consumption::claiming_a_usage_key_succeeds_once_per_org,
            consumption::pruning_usage_keys_forgets_only_older_claims,
            consumption::set_gauge_keeps_the_months_peak_and_starts_from_the_carried_value,
            consumption::month_metrics_cover_one_org_or_its_subtree_only,
            consumption::month_metrics_of_a_subtree_include_tombstoned_descendants,
            consumption::month_metrics_carry_gauges_forward_into_months_without_rows,
            consumption::month_metrics_have_no_gauges_before_their_first_month,
            tx::ping_answers_on_an_open_store,
            tx::writes_of_a_dropped_transaction_are_not_visible,
            tx::committed_writes_are_visible_to_readers,
            tx::a_read_transaction_keeps_its_snapshot,
            tx::lock_org_serialises_read_modify_write,
        );
    };
    (@make required $make:expr) => {
        Some($make.await)
    };
    (@make optional $make:expr) => {
        $make.await
    };
    (@tests $mode:ident $make:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, guard)) = $crate::store_suite!(@make $mode $make) else {
                    return;
                };
                $crate::$module::$name(&store).await;
                $crate::__close(&store).await;
                drop(guard);
            }
        )+
    };
}

/// Closes a store after a test, before its guard goes.
#[doc(hidden)]
pub async fn __close(store: &dyn orgd_core::store::Store) {
    store.close().await;
}
