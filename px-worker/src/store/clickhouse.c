#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <zlib.h>

#include "clickhouse.h"

#define PX_CH_MAX_ANSWER  (16 * 1024 * 1024)

struct px_clickhouse_s {
    CURL     *curl;
    char      url[512];
    char      userpwd[1024];
    char      insert_params[256];   /* px_ch_insert_settings, "&a=b..." */
    long      timeout_ms;
    px_buf_t  gz;               /* reused compressed body */
    int       gzip_level;       /* px_ch_set_gzip, 0: none */
    int       exception_code;   /* X-ClickHouse-Exception-Code, or -1 */
    long      cap_ms;           /* px_ch_cap, 0: none */
    int     (*stop)(void *);    /* px_ch_set_stop */
    void     *stop_arg;
};

px_clickhouse_t *
px_ch_new(const char *url, const char *user, const char *password,
    long timeout_ms, char *err, size_t errlen)
{
    px_clickhouse_t  *ch;

    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    if (snprintf(ch->url, sizeof(ch->url), "%s", url) >= (int) sizeof(ch->url)
        || snprintf(ch->userpwd, sizeof(ch->userpwd), "%s:%s", user,
                    password) >= (int) sizeof(ch->userpwd))
    {
        snprintf(err, errlen, "ClickHouse URL or credentials too long");
        free(ch);
        return NULL;
    }

    /* a trailing slash would make "//?query=" */
    while (ch->url[0] != '\0' && ch->url[strlen(ch->url) - 1] == '/') {
        ch->url[strlen(ch->url) - 1] = '\0';
    }

    ch->curl = curl_easy_init();
    if (ch->curl == NULL) {
        snprintf(err, errlen, "curl_easy_init() failed");
        free(ch);
        return NULL;
    }

    ch->timeout_ms = timeout_ms;
    px_buf_init(&ch->gz, NULL, 0);
    return ch;
}

void
px_ch_free(px_clickhouse_t *ch)
{
    if (ch == NULL) {
        return;
    }

    curl_easy_cleanup(ch->curl);
    px_buf_free(&ch->gz);
    free(ch);
}

/* curl calls this about once a second during a transfer: a non-zero
 * answer aborts it (CURLE_ABORTED_BY_CALLBACK). */
static int
px_ch_progress_cb(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    px_clickhouse_t  *ch = ctx;

    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;

    return ch->stop != NULL && ch->stop(ch->stop_arg);
}

/* X-ClickHouse-Exception-Code: the error's code, also when the body is
 * cut or not ClickHouse's text. */
static size_t
px_ch_header_cb(char *data, size_t size, size_t n, void *ctx)
{
    static const char   name[] = "x-clickhouse-exception-code:";
    px_clickhouse_t    *ch = ctx;
    size_t              len = size * n;

    if (len > sizeof(name) - 1
        && strncasecmp(data, name, sizeof(name) - 1) == 0)
    {
        ch->exception_code = atoi(data + sizeof(name) - 1);
    }

    return len;
}

static size_t
px_ch_write_cb(char *data, size_t size, size_t n, void *ctx)
{
    px_buf_t  *out = ctx;

    if (px_buf_append(out, data, size * n) != 0) {
        return 0;  /* curl reports CURLE_WRITE_ERROR */
    }

    return size * n;
}

/* ClickHouse's exception code in an answer ("Code: N."), or -1. */
int
px_ch_answer_code(const char *answer)
{
    const char  *p;

    p = strstr(answer, "Code: ");
    return p != NULL ? atoi(p + 6) : -1;
}

static int
px_ch_code_in(int code, const int *codes, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (codes[i] == code) {
            return 1;
        }
    }

    return 0;
}

px_ch_status_t
px_ch_classify(long http_status, int code)
{
    /* about a row's values: that row can never be stored */
    static const int  data[] = {
        6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 130, 131, 135, 190
    };

    if (http_status == 200) {
        return PX_CH_OK;
    }

    /* everything else waits: a wrong password (516, 193), a revoked grant
     * (497), an unknown table or database (60, 81), a timeout (159), too
     * many parts (252), memory (241), a code we do not know.  The HTTP
     * status says little: 403, 404 and 408 are not about the rows. */
    return px_ch_code_in(code, data, sizeof(data) / sizeof(data[0]))
           ? PX_CH_REJECTED : PX_CH_RETRY;
}

int
px_ch_transient(const char *err)
{
    /* timeouts, network, too many queries/parts, memory, shutting down */
    static const int  codes[] = { 159, 160, 202, 209, 210, 241, 252, 394 };

    if (strstr(err, "ClickHouse HTTP") == NULL) {
        return 1;   /* no answer at all */
    }

    return strstr(err, "ClickHouse HTTP 5") != NULL
           && (strstr(err, "Code: ") == NULL
               || px_ch_code_in(px_ch_answer_code(err), codes,
                                sizeof(codes) / sizeof(codes[0])));
}

static px_ch_status_t
px_ch_post(px_clickhouse_t *ch, const char *query_url, const char *body,
    size_t len, int gzip, px_buf_t *out, char *err, size_t errlen)
{
    CURLcode            rc;
    long                status;
    px_buf_t            answer;
    px_ch_status_t      st;
    struct curl_slist  *headers;

    px_buf_init(&answer, NULL, PX_CH_MAX_ANSWER);
    headers = NULL;

    if (gzip) {
        headers = curl_slist_append(headers, "Content-Encoding: gzip");
        if (headers == NULL) {
            snprintf(err, errlen, "out of memory");
            return PX_CH_RETRY;
        }
    }

    curl_easy_reset(ch->curl);
    curl_easy_setopt(ch->curl, CURLOPT_URL, query_url);
    curl_easy_setopt(ch->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(ch->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(ch->curl, CURLOPT_USERPWD, ch->userpwd);
    curl_easy_setopt(ch->curl, CURLOPT_TIMEOUT_MS,
                     ch->cap_ms > 0 && ch->cap_ms < ch->timeout_ms
                     ? ch->cap_ms : ch->timeout_ms);
    curl_easy_setopt(ch->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(ch->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ch->curl, CURLOPT_WRITEFUNCTION, px_ch_write_cb);
    curl_easy_setopt(ch->curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(ch->curl, CURLOPT_HEADERFUNCTION, px_ch_header_cb);
    curl_easy_setopt(ch->curl, CURLOPT_HEADERDATA, ch);
    if (ch->stop != NULL) {
        curl_easy_setopt(ch->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(ch->curl, CURLOPT_XFERINFOFUNCTION,
                         px_ch_progress_cb);
        curl_easy_setopt(ch->curl, CURLOPT_XFERINFODATA, ch);
    }
    ch->exception_code = -1;

    rc = curl_easy_perform(ch->curl);
    curl_slist_free_all(headers);

    if (rc != CURLE_OK) {
        snprintf(err, errlen, "ClickHouse unreachable: %s",
                 curl_easy_strerror(rc));
        px_buf_free(&answer);
        return PX_CH_RETRY;
    }

    curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &status);

    if (px_buf_terminate(&answer) != 0) {
        px_buf_free(&answer);
        snprintf(err, errlen, "out of memory");
        return PX_CH_RETRY;
    }

    if (status == 200) {
        st = PX_CH_OK;
        if (out != NULL && px_buf_append(out, answer.data, answer.len) != 0) {
            snprintf(err, errlen, "out of memory");
            st = PX_CH_RETRY;
        }

    } else {
        snprintf(err, errlen, "ClickHouse HTTP %ld: %.300s", status,
                 answer.data != NULL ? answer.data : "");
        st = px_ch_classify(status, ch->exception_code >= 0
                                    ? ch->exception_code
                                    : px_ch_answer_code(err));
    }

    px_buf_free(&answer);
    return st;
}

px_ch_status_t
px_ch_query(px_clickhouse_t *ch, const char *sql, px_buf_t *out, char *err,
    size_t errlen)
{
    return px_ch_post(ch, ch->url, sql, strlen(sql), 0, out, err, errlen);
}

/* gzip rows into ch->gz */
static int
px_ch_gzip(px_clickhouse_t *ch, const char *data, size_t len)
{
    z_stream  zs;
    int       rc;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, ch->gzip_level, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        return -1;
    }

    ch->gz.len = 0;
    if (px_buf_reserve(&ch->gz, deflateBound(&zs, len)) != 0) {
        deflateEnd(&zs);
        return -1;
    }

    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = (Bytef *) ch->gz.data;
    zs.avail_out = (uInt) ch->gz.cap;

    rc = deflate(&zs, Z_FINISH);
    ch->gz.len = zs.total_out;
    deflateEnd(&zs);

    return rc == Z_STREAM_END ? 0 : -1;
}

px_ch_status_t
px_ch_insert(px_clickhouse_t *ch, const char *table, const char *how,
    const char *rows, size_t len, char *err, size_t errlen)
{
    char   url[8192], *q;
    char   sql[1536];
    int    n;
    CURL  *c = ch->curl;

    n = snprintf(sql, sizeof(sql), "INSERT INTO %s %s", table, how);
    if (n < 0 || (size_t) n >= sizeof(sql)) {
        /* not the rows' fault: never a reason to dead-letter them */
        snprintf(err, errlen, "insert statement too long");
        return PX_CH_RETRY;
    }

    q = curl_easy_escape(c, sql, 0);
    if (q == NULL) {
        snprintf(err, errlen, "out of memory");
        return PX_CH_RETRY;
    }

    n = snprintf(url, sizeof(url), "%s/?input_format_skip_unknown_fields=1"
                 "%s&query=%s", ch->url, ch->insert_params, q);
    curl_free(q);
    if (n < 0 || (size_t) n >= sizeof(url)) {
        snprintf(err, errlen, "insert URL too long");
        return PX_CH_RETRY;
    }

    if (ch->gzip_level == 0) {
        return px_ch_post(ch, url, rows, len, 0, NULL, err, errlen);
    }

    if (len > UINT32_MAX || px_ch_gzip(ch, rows, len) != 0) {
        snprintf(err, errlen, "could not compress the insert");
        return PX_CH_RETRY;
    }

    return px_ch_post(ch, url, ch->gz.data, ch->gz.len, 1, NULL, err, errlen);
}

void
px_ch_set_gzip(px_clickhouse_t *ch, int level)
{
    ch->gzip_level = level < 0 ? 0 : level > 9 ? 9 : level;
}

int
px_ch_insert_settings(px_clickhouse_t *ch, const char *params)
{
    int  n;

    n = snprintf(ch->insert_params, sizeof(ch->insert_params), "%s%s",
                 params[0] != '\0' ? "&" : "", params);
    if (n < 0 || (size_t) n >= sizeof(ch->insert_params)) {
        ch->insert_params[0] = '\0';
        return -1;
    }
    return 0;
}

void
px_ch_cap(px_clickhouse_t *ch, long ms)
{
    ch->cap_ms = ms;
}

void
px_ch_set_stop(px_clickhouse_t *ch, int (*stop)(void *), void *arg)
{
    ch->stop = stop;
    ch->stop_arg = arg;
}
