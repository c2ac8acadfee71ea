/*
 * metrics.c -- metric history: mlflow/metrics/get-history, the UI's
 * get-history-bulk and get-history-bulk-interval (sampled steps for charts).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "store/search.h"
#include "util/arena.h"

#define MAX_BULK_RUN_IDS 100
#define MAX_BULK_RESULTS 25000
#define MAX_INTERVAL_RESULTS_PER_RUN 2500

/* MLflow 2 returns the whole history (max_results is ignored); MLflow 3
 * pages it, and without max_results the page size is 0 (only a
 * next_page_token). */
static enum keel_err h_history(struct api_call *c)
{
    const char *id, *key, *token;
    struct keel_metric *m;
    size_t n;
    int64_t max_results = 0, offset = 0;
    bool paged = c->mlflow3;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "metric_key", true, &key);
    if (!e)
        e = api_arg_int(c, "max_results", false, &max_results, NULL);
    if (!e)
        e = api_arg_str(c, "page_token", false, &token);
    if (!e && paged && token && *token)
        e = search_page_token_decode(c->ctx, token, &offset);
    if (max_results < 0)
        max_results = 0;
    if (offset < 0)
        offset = 0;
    /* a page and one more value, which says whether another page follows */
    size_t want = (size_t)max_results < SIZE_MAX - 1 ? (size_t)max_results + 1 : SIZE_MAX;
    if (!e)
        e = store_metric_history(c->app->store, c->ctx, id, key, paged ? (size_t)offset : 0,
                                 paged ? want : 0, &m, &n);
    if (e)
        return e;
    bool more = paged && n > (size_t)max_results;
    size_t shown = more ? (size_t)max_results : n;
    jw_obj(&c->out);
    if (shown) {
        jw_key(&c->out, "metrics");
        jw_arr(&c->out);
        for (size_t i = 0; i < shown; i++)
            api_write_metric(&c->out, &m[i], NULL);
        jw_arr_end(&c->out);
    }
    if (more) {
        const char *next = search_page_token_encode(c->ctx, offset + max_results);
        if (!next)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        jw_kstr(&c->out, "next_page_token", next);
    }
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* GET metrics/get-history-bulk?run_id=..&run_id=..&metric_key=.. (the UI's) */
static enum keel_err h_history_bulk(struct api_call *c)
{
    const char **ids, *key;
    size_t n_ids;
    int64_t max_results = MAX_BULK_RESULTS;
    enum keel_err e = api_arg_str_list(c, "run_id", &ids, &n_ids);
    if (e)
        return e;
    if (n_ids == 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "GetMetricHistoryBulk request must specify at least one run_id.");
    if (n_ids > MAX_BULK_RUN_IDS)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "GetMetricHistoryBulk request cannot specify more than %d run_ids. "
                         "Received %zu run_ids.",
                         MAX_BULK_RUN_IDS, n_ids);
    if ((e = api_arg_str(c, "metric_key", false, &key)))
        return e;
    if (!key)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "GetMetricHistoryBulk request must specify a metric_key.");
    if ((e = api_arg_int(c, "max_results", false, &max_results, NULL)))
        return e;
    if (max_results > MAX_BULK_RESULTS)
        max_results = MAX_BULK_RESULTS;
    qsort(ids, n_ids, sizeof *ids, cmp_str);
    jw_obj(&c->out);
    jw_key(&c->out, "metrics");
    jw_arr(&c->out);
    int64_t written = 0;
    for (size_t r = 0; r < n_ids && written < max_results; r++) {
        struct keel_metric *m;
        size_t n;
        /* only what still fits: max_results - written > 0 here */
        if ((e = store_metric_history(c->app->store, c->ctx, ids[r], key, 0,
                                      (size_t)(max_results - written), &m, &n)))
            return e;
        for (size_t i = 0; i < n && written < max_results; i++, written++)
            api_write_metric(&c->out, &m[i], ids[r]);
    }
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct copy of v (in place); returns the new length. */
static size_t uniq_sorted(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (o == 0 || v[o - 1] != v[i])
            v[o++] = v[i];
    return o;
}

/* MLflow orders sampled points by (step, timestamp, value) */
static int cmp_step_time_value(const void *a, const void *b)
{
    const struct keel_metric *x = a, *y = b;
    if (x->step != y->step)
        return (x->step > y->step) - (x->step < y->step);
    if (x->timestamp != y->timestamp)
        return (x->timestamp > y->timestamp) - (x->timestamp < y->timestamp);
    return (x->value > y->value) - (x->value < y->value);
}

static bool contains(const int64_t *sorted, size_t n, int64_t x)
{
    return bsearch(&x, sorted, n, sizeof x, cmp_i64) != NULL;
}

/*
 * MLflow's sampling: among all steps logged by the runs, those in
 * [start, end] are kept when they are at most max_results, else max_results
 * of them evenly spaced plus the last; each run's first and last step in the
 * range are always kept.
 */
static enum keel_err h_history_bulk_interval(struct api_call *c)
{
    const char **ids, *key;
    size_t n_ids;
    int64_t max_results = MAX_INTERVAL_RESULTS_PER_RUN, start = 0, end = 0;
    bool has_max, has_start, has_end;
    enum keel_err e = api_arg_str_list(c, "run_ids", &ids, &n_ids);
    if (!e && n_ids == 0)
        e = api_fail_missing(c, "run_ids");
    if (!e && n_ids > MAX_BULK_RUN_IDS)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "GetMetricHistoryBulkInterval request must specify at most %d run_ids. "
                      "Received %zu run_ids. See the API docs for more information about "
                      "request parameters.",
                      MAX_BULK_RUN_IDS, n_ids);
    if (!e)
        e = api_arg_str(c, "metric_key", true, &key);
    if (!e)
        e = api_arg_int(c, "start_step", false, &start, &has_start);
    if (!e)
        e = api_arg_int(c, "end_step", false, &end, &has_end);
    if (!e)
        e = api_arg_int(c, "max_results", false, &max_results, &has_max);
    if (!e && (max_results < 1 || max_results > MAX_INTERVAL_RESULTS_PER_RUN))
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "max_results must be between 1 and %d. See the API docs for more "
                      "information about request parameters.",
                      MAX_INTERVAL_RESULTS_PER_RUN);
    if (!e && has_start && has_end && start > end)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "end_step must be greater than start_step. Found start_step=%lld and "
                      "end_step=%lld.",
                      (long long)start, (long long)end);
    if (!e && has_start != has_end)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "If either start step or end step are specified, both must be specified.");
    if (e)
        return e;
    struct keel_metric **hist = karena_calloc(c->ctx->arena, n_ids, sizeof *hist);
    size_t *n_hist = karena_calloc(c->ctx->arena, n_ids, sizeof *n_hist);
    size_t total = 0;
    for (size_t r = 0; hist && n_hist && r < n_ids; r++) {
        if ((e = store_metric_history(c->app->store, c->ctx, ids[r], key, 0, 0, &hist[r],
                                          &n_hist[r])))
            return e;
        total += n_hist[r];
    }
    int64_t *steps = karena_alloc(c->ctx->arena, (total + 1) * sizeof *steps);
    int64_t *keep = karena_alloc(c->ctx->arena, (total + 2 * n_ids + 1) * sizeof *keep);
    if (!hist || !n_hist || !steps || !keep)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "metric history too large");
    size_t ns = 0, nk = 0;
    for (size_t r = 0; r < n_ids; r++)
        for (size_t i = 0; i < n_hist[r]; i++)
            steps[ns++] = hist[r][i].step;
    ns = uniq_sorted(steps, ns);
    if (!has_start) {
        start = 0;
        end = ns ? steps[ns - 1] : 0;
    }
    for (size_t r = 0; r < n_ids; r++) { /* each run's min and max, if in range */
        if (!n_hist[r])
            continue;
        int64_t lo = hist[r][0].step, hi = lo;
        for (size_t i = 1; i < n_hist[r]; i++) {
            lo = hist[r][i].step < lo ? hist[r][i].step : lo;
            hi = hist[r][i].step > hi ? hist[r][i].step : hi;
        }
        if (lo >= start && lo <= end)
            keep[nk++] = lo;
        if (hi >= start && hi <= end)
            keep[nk++] = hi;
    }
    size_t first = 0, last = 0;
    while (first < ns && steps[first] < start)
        first++;
    last = first;
    while (last < ns && steps[last] <= end)
        last++;
    size_t in_range = last - first;
    if (in_range <= (size_t)max_results) {
        for (size_t i = first; i < last; i++)
            keep[nk++] = steps[i];
    } else {
        double interval = (double)in_range / (double)max_results;
        for (int64_t i = 0; i < max_results; i++) {
            size_t idx = first + (size_t)((double)i * interval);
            if (idx < in_range) /* MLflow compares against the count, not the end */
                keep[nk++] = steps[idx];
        }
        keep[nk++] = steps[last - 1];
    }
    nk = uniq_sorted(keep, nk);
    jw_obj(&c->out);
    jw_key(&c->out, "metrics");
    jw_arr(&c->out);
    for (size_t r = 0; r < n_ids; r++) {
        if (n_hist[r]) /* qsort takes no NULL, even for nothing */
            qsort(hist[r], n_hist[r], sizeof *hist[r], cmp_step_time_value);
        size_t written = 0;
        for (size_t i = 0; i < n_hist[r] && written < MAX_BULK_RESULTS; i++)
            if (contains(keep, nk, hist[r][i].step)) {
                api_write_metric(&c->out, &hist[r][i], ids[r]);
                written++;
            }
    }
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_metric_routes[] = {
    {"GET", "mlflow/metrics/get-history", h_history},
    {"GET", "mlflow/metrics/get-history-bulk", h_history_bulk},
    {"GET", "mlflow/metrics/get-history-bulk-interval", h_history_bulk_interval},
    {NULL, NULL, NULL},
};
