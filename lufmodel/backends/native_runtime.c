/* The native explorer's runtime: breadth-first search over the generated step functions.
 *
 * Appended to the C that lufmodel.backends.cgen generates (STEPS, INST_CPU, state_check,
 * cell, NV, NVP, NI, NCPU, pack, unpack, NW). Stored per state: a 64-bit fingerprint in an
 * open-addressing table, the parent's index and the instance that reached it (14 bytes at
 * the table's fullest, 26 at its emptiest); states themselves, packed into NW words of bit
 * fields, only for the current and the next level. Levels are contiguous index ranges, so
 * a state's depth is known from the level boundaries the caller keeps.
 *
 * The fingerprint table is NSHARD independent open-addressing tables (a shard is chosen by
 * the fingerprint's top bits, the slot within it by its low bits), so that threads can
 * insert into disjoint shards at the same time.
 *
 * A level is expanded in chunks ([from, to) of the current level), each cut into units of
 * contiguous states; the order of the units is the order of a sequential search.
 *   1. Threads take units in turn and expand them into the unit's own records: successors
 *      not in the table nor earlier in the unit (with their state properties checked), and
 *      events. The table is only read. Table slots are prefetched a batch ahead.
 *   2. Threads take shard groups (shard % groups) in turn; for a group, the fingerprints of
 *      its shards are inserted in unit order, marking which were new: the first occurrence
 *      in unit order wins, as in a sequential merge, and groups are disjoint, so the new
 *      states are the same.
 *   3. New states get consecutive indices in unit order (a prefix sum); threads copy them
 *      to the next level and fill their parent and instance, unit by unit.
 *   4. Events are appended in unit order, sequentially.
 * So indices, events and traces do not depend on the thread count.
 */
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>

/* Large tables are backed by huge pages where the system allows it (Linux: madvise), so
 * that random probes do not also miss the TLB. Declared here: the generated code before
 * this runtime includes headers in strict C11 mode. */
#define HUGE_PAGE (2u << 20)
int posix_memalign(void **memptr, size_t alignment, size_t size);
#ifdef __linux__
int madvise(void *addr, size_t length, int advice);
#define MADV_HUGEPAGE_ 14
#endif

static uint64_t *zeroed_words(uint64_t n) {
    size_t bytes = (size_t)n * sizeof(uint64_t);
    if (bytes < HUGE_PAGE) return calloc(n, sizeof(uint64_t));
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes)) return NULL;
#ifdef __linux__
    madvise(p, bytes, MADV_HUGEPAGE_);
#endif
    memset(p, 0, bytes);
    return p;
}

_Static_assert(NI < 0xFFFF, "instance numbers are stored in 16 bits (0xFFFF: the initial state)");

#define SHARD_BITS 6
#define NSHARD (1u << SHARD_BITS)
#define SHARD_CAP0 64
#define MAXT 64            /* threads */
/* With threads, a chunk is cut into units of at most UNIT_STATES states, and at least
 * UNITS_PER_THREAD units per thread (at most MAXU); there are as many shard groups as
 * units per thread times threads (at most NSHARD). Threads take units and groups in turn. */
#define UNITS_PER_THREAD 4
#define UNIT_STATES 4096
#define MAXU 256
#define MAXG NSHARD
#define NONE UINT64_MAX
#define MAX_STATES ((uint64_t)UINT32_MAX + 1) /* parent indices are 32-bit */

typedef struct {
    uint64_t *keys;
    uint64_t cap, count;
} Shard;

/* A state-property or transition event found in phase 1. A successor with a state event
 * to report is entry ``slot`` of its shard group's stream (slot NONE: none). */
typedef struct {
    uint64_t tbits, sbits;
    uint32_t parent;
    uint16_t inst;
    uint16_t group;
    uint64_t slot;
} Ev;

/* A shard group's stream in a unit: the fingerprints of the unit's candidates whose shard is
 * in the group, in order. Phase 2 replaces each by 1 if it was new, 0 if not; phase 3 by the
 * new state's index, or NONE. */
typedef struct {
    uint64_t *v;
    uint64_t n, cap;
} Stream;

/* One unit of a chunk: the states [from, to) of the current level, and what phase 1 found:
 * the candidates (successors in neither the table nor earlier in the unit), their groups'
 * streams, and the events. */
typedef struct {
    uint64_t from, to;
    uint8_t *group;
    uint32_t *parent;
    uint16_t *inst;
    uint64_t *states;
    uint64_t ncand, ccap;
    Stream own[MAXG];
    /* the candidates' fingerprints, to drop a successor already a candidate of the unit,
     * which cannot be new (open addressing, at most half full) */
    uint64_t *seen;
    uint64_t nseen, seen_cap;
    Ev *ev;
    uint64_t nev, evcap;
    uint64_t transitions;
    uint64_t nfresh, base, next_base;
    int failed;
} Unit;

typedef struct {
    Shard shard[NSHARD];
    unsigned ngroups;           /* this chunk's: shard s is in group s % ngroups */
    uint32_t *parent;
    uint16_t *via;
    uint64_t nstates, scap;
    uint64_t *cur;
    uint64_t ncur, cur_base, cur_cap;
    uint64_t *next;
    uint64_t nnext, next_cap;
    uint32_t *ev_state;
    int32_t *ev_inst;
    uint64_t *ev_bits;
    uint64_t nev, ev_cap;
    uint64_t transitions;
    /* one chunk's work, kept between chunks */
    Unit unit[MAXU];
    /* fewest-switch pass */
    uint8_t *dp_sw;
    uint32_t *dp_pidx;
    int8_t *dp_plast;
    int32_t *dp_num;
    uint64_t dp_n;
} Ctx;

#define K (NCPU + 1)
#define SW_NONE 255

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t fingerprint(const uint64_t *w) {
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < NW; i++) {
        h ^= mix64(w[i] + 0x632BE59BD9B4E019ULL * (i + 1));
        h = (h << 27 | h >> 37) * 5 + 0x52dce729;
    }
    h = mix64(h);
    return h ? h : 1;
}

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return 0;
    uint64_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* realloc ``*p`` to ``n`` elements (n > 0). */
static int resize(void **p, uint64_t n, size_t elem) {
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

static inline unsigned shard_of(uint64_t fp) { return (unsigned)(fp >> (64 - SHARD_BITS)); }

static int table_has(const Ctx *c, uint64_t fp) {
    const Shard *t = &c->shard[shard_of(fp)];
    uint64_t mask = t->cap - 1, i = fp & mask;
    for (;;) {
        uint64_t k = t->keys[i];
        if (k == 0) return 0;
        if (k == fp) return 1;
        i = (i + 1) & mask;
    }
}

/* Move the fingerprints of an open-addressing table of ``cap`` slots into an empty one of
 * ``ncap`` slots (both powers of two). */
static void reinsert(const uint64_t *keys, uint64_t cap, uint64_t *nk, uint64_t ncap) {
    for (uint64_t j = 0; j < cap; j++) {
        uint64_t k = keys[j];
        if (!k) continue;
        uint64_t i = k & (ncap - 1);
        while (nk[i]) i = (i + 1) & (ncap - 1);
        nk[i] = k;
    }
}

static int shard_rehash(Shard *t, uint64_t ncap) {
    uint64_t *nk = zeroed_words(ncap);
    if (!nk) return -1;
    reinsert(t->keys, t->cap, nk, ncap);
    free(t->keys);
    t->keys = nk;
    t->cap = ncap;
    return 0;
}

/* Insert fp into its shard if absent: 1 if inserted, 0 if present, -1 on no memory. A
 * shard doubles at 85% load, so its load stays between 42% and 85%. */
static int shard_insert(Shard *t, uint64_t fp) {
    if ((t->count + 1) * 20 > t->cap * 17 && shard_rehash(t, t->cap * 2)) return -1;
    uint64_t mask = t->cap - 1, i = fp & mask;
    for (;;) {
        uint64_t k = t->keys[i];
        if (k == 0) {
            t->keys[i] = fp;
            t->count++;
            return 1;
        }
        if (k == fp) return 0;
        i = (i + 1) & mask;
    }
}

/* A small map from fingerprint to index, for one level in the fewest-switch pass. */
typedef struct {
    uint64_t *keys;
    uint32_t *vals;
    uint64_t cap;
} LevelMap;

static int levelmap_init(LevelMap *m, uint64_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 2) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof(uint64_t));
    m->vals = malloc(m->cap * sizeof(uint32_t));
    return (m->keys && m->vals) ? 0 : -1;
}

static void levelmap_put(LevelMap *m, uint64_t fp, uint32_t idx) {
    uint64_t i = fp & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != fp) i = (i + 1) & (m->cap - 1);
    m->keys[i] = fp;
    m->vals[i] = idx;
}

static int64_t levelmap_get(const LevelMap *m, uint64_t fp) {
    uint64_t i = fp & (m->cap - 1);
    for (;;) {
        if (m->keys[i] == 0) return -1;
        if (m->keys[i] == fp) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
}

static int add_event(Ctx *c, uint32_t state, int32_t inst, uint64_t bits) {
    if (c->nev == c->ev_cap) {
        uint64_t n = c->ev_cap ? c->ev_cap * 2 : 1024;
        if (resize((void **)&c->ev_state, n, sizeof(uint32_t)) || resize((void **)&c->ev_inst, n, sizeof(int32_t))
            || resize((void **)&c->ev_bits, n, sizeof(uint64_t)))
            return -1;
        c->ev_cap = n;
    }
    c->ev_state[c->nev] = state;
    c->ev_inst[c->nev] = inst;
    c->ev_bits[c->nev] = bits;
    c->nev++;
    return 0;
}

void ctx_free(Ctx *c) {
    if (!c) return;
    for (unsigned s = 0; s < NSHARD; s++) free(c->shard[s].keys);
    for (int u = 0; u < MAXU; u++) {
        Unit *w = &c->unit[u];
        free(w->group); free(w->seen); free(w->parent); free(w->inst); free(w->states); free(w->ev);
        for (unsigned g = 0; g < MAXG; g++) free(w->own[g].v);
    }
    free(c->parent); free(c->via);
    free(c->cur); free(c->next);
    free(c->ev_state); free(c->ev_inst); free(c->ev_bits);
    free(c->dp_sw); free(c->dp_pidx); free(c->dp_plast); free(c->dp_num);
    free(c);
}

Ctx *ctx_new(const cell *init) {
    Ctx *c = calloc(1, sizeof(Ctx));
    if (!c) return NULL;
    for (unsigned s = 0; s < NSHARD; s++) {
        c->shard[s].cap = SHARD_CAP0;
        c->shard[s].keys = calloc(SHARD_CAP0, sizeof(uint64_t));
        if (!c->shard[s].keys) { ctx_free(c); return NULL; }
    }
    c->cur = malloc(sizeof(uint64_t) * NW);
    c->cur_cap = NW;
    c->scap = 1024;
    c->parent = malloc(c->scap * sizeof(uint32_t));
    c->via = malloc(c->scap * sizeof(uint16_t));
    if (!c->cur || !c->parent || !c->via) { ctx_free(c); return NULL; }
    cell first[NVP];
    memcpy(first, init, sizeof(cell) * NVP);
    canon_packed(first, c->cur);
    c->ncur = 1;
    c->cur_base = 0;
    c->parent[0] = 0;
    c->via[0] = 0xFFFF;
    c->nstates = 1;
    uint64_t fp = fingerprint(c->cur);
    shard_insert(&c->shard[shard_of(fp)], fp);
    return c;
}

/* ---- one chunk of a level ------------------------------------------------------------ */

static int unit_reserve(Unit *w, uint64_t need) {
    if (need <= w->ccap) return 0;
    uint64_t n = w->ccap ? w->ccap : 1024;
    while (n < need) n *= 2;
    if (resize((void **)&w->group, n, 1) || resize((void **)&w->parent, n, sizeof(uint32_t))
        || resize((void **)&w->inst, n, sizeof(uint16_t)) || resize((void **)&w->states, n * NW, sizeof(uint64_t)))
        return -1;
    w->ccap = n;
    return 0;
}

static inline void table_prefetch(const Ctx *c, uint64_t fp) {
    const Shard *t = &c->shard[shard_of(fp)];
    __builtin_prefetch(&t->keys[fp & (t->cap - 1)]);
}

/* Successors waiting for their table probe: phase 1 computes a batch of fingerprints and
 * prefetches their slots before it probes the first one. */
#define BATCH (NI > 128 ? NI : 128)
typedef struct {
    uint64_t packed[BATCH][NW];
    uint64_t fp[BATCH], tbits[BATCH];
    uint32_t parent[BATCH];
    uint16_t inst[BATCH];
    int n;
} Batch;

/* Add fp to the unit's candidate set: 1 if added, 0 if there, -1 on no memory. */
static int seen_add(Unit *w, uint64_t fp) {
    if (2 * (w->nseen + 1) > w->seen_cap) {
        uint64_t ncap = w->seen_cap ? 2 * w->seen_cap : 4096;
        uint64_t *nk = calloc(ncap, sizeof(uint64_t));
        if (!nk) return -1;
        reinsert(w->seen, w->seen_cap, nk, ncap);
        free(w->seen);
        w->seen = nk;
        w->seen_cap = ncap;
    }
    uint64_t mask = w->seen_cap - 1, i = fp & mask;
    for (;;) {
        uint64_t k = w->seen[i];
        if (k == 0) { w->seen[i] = fp; w->nseen++; return 1; }
        if (k == fp) return 0;
        i = (i + 1) & mask;
    }
}

/* Probe the batch in order: keep the successors not in the table and the events. */
static int drain(const Ctx *c, Unit *w, Batch *b, uint64_t open) {
    cell out[NVP];
    for (int k = 0; k < b->n; k++) {
        uint64_t fp = b->fp[k], tbits = b->tbits[k];
        int known = table_has(c, fp);
        if (!known) {
            int added = seen_add(w, fp);
            if (added < 0) return -1;
            known = !added;
        }
        if (known && !tbits) continue;
        uint64_t sbits = 0, slot = NONE;
        unsigned g = 0;
        if (!known) {
            uint64_t sbad = 0, shit = 0;
            unpack(b->packed[k], out);
            state_check(out, &sbad, &shit);
            sbits = (sbad | shit) & open;
            if (unit_reserve(w, w->ncand + 1)) return -1;
            uint64_t j = w->ncand++;
            g = shard_of(fp) % c->ngroups;
            w->group[j] = (uint8_t)g;
            w->parent[j] = b->parent[k];
            w->inst[j] = b->inst[k];
            memcpy(w->states + j * NW, b->packed[k], sizeof(uint64_t) * NW);
            Stream *st = &w->own[g];
            if (grow((void **)&st->v, &st->cap, st->n + 1, sizeof(uint64_t))) return -1;
            slot = st->n;
            st->v[st->n++] = fp;
        }
        if (!tbits && !sbits) continue;
        if (grow((void **)&w->ev, &w->evcap, w->nev + 1, sizeof(Ev))) return -1;
        Ev *e = &w->ev[w->nev++];
        e->tbits = tbits;
        e->sbits = sbits;
        e->parent = b->parent[k];
        e->inst = b->inst[k];
        e->group = (uint16_t)g;
        e->slot = sbits ? slot : NONE;
    }
    b->n = 0;
    return 0;
}

/* Phase 1 for one unit: successors not in the table, and events. */
static void expand_unit(const Ctx *c, Unit *w, uint64_t open) {
    cell s[NVP], out[NVP];
    Batch b;
    b.n = 0;
    w->ncand = w->nev = w->transitions = 0;
    for (unsigned g = 0; g < c->ngroups; g++) w->own[g].n = 0;
    if (w->nseen) memset(w->seen, 0, w->seen_cap * sizeof(uint64_t));
    w->nseen = 0;
    w->failed = 0;
    for (uint64_t i = w->from; i < w->to; i++) {
        if (b.n > BATCH - NI && drain(c, w, &b, open)) { w->failed = 1; return; }
        unpack(c->cur + i * NW, s);
        uint32_t parent = (uint32_t)(c->cur_base + i);
        for (int n = 0; n < NI; n++) {
            uint64_t bad = 0, hit = 0;
            if (!STEPS[n](s, out, &bad, &hit)) continue;
            w->transitions++;
            int k = b.n++;
            canon_packed(out, b.packed[k]);
            uint64_t fp = fingerprint(b.packed[k]);
            table_prefetch(c, fp);
            b.fp[k] = fp;
            b.tbits[k] = (bad | hit) & open;
            b.parent[k] = parent;
            b.inst[k] = (uint16_t)n;
        }
    }
    if (drain(c, w, &b, open)) w->failed = 1;
}

/* Phase 2 for shard group g: insert its streams' fingerprints in unit order, and mark which
 * were new. The slot of the fingerprint AHEAD places on is prefetched. */
#define AHEAD 16
static int insert_group(Ctx *c, int nunits, unsigned g, uint64_t *nfresh) {
    for (int u = 0; u < nunits; u++) {
        Stream *st = &c->unit[u].own[g];
        uint64_t got = 0, n = st->n, *v = st->v;
        for (uint64_t k = 0; k < n; k++) {
            if (k + AHEAD < n) table_prefetch(c, v[k + AHEAD]);
            uint64_t fp = v[k];
            int r = shard_insert(&c->shard[shard_of(fp)], fp);
            if (r < 0) return -1;
            v[k] = (uint64_t)r;
            got += (uint64_t)r;
        }
        nfresh[u] += got;
    }
    return 0;
}

/* Phase 3 for one unit: its new states to the next level, with parents and instances. */
static void place_unit(Ctx *c, Unit *w) {
    uint64_t idx = w->base, pos = w->next_base;
    uint64_t at[MAXG] = {0};
    for (uint64_t j = 0; j < w->ncand; j++) {
        unsigned g = w->group[j];
        uint64_t *flag = &w->own[g].v[at[g]++];
        if (!*flag) { *flag = NONE; continue; }
        *flag = idx;
        c->parent[idx] = w->parent[j];
        c->via[idx] = w->inst[j];
        memcpy(c->next + pos * NW, w->states + j * NW, sizeof(uint64_t) * NW);
        idx++;
        pos++;
    }
}

typedef struct {
    Ctx *c;
    int nunits, phase;
    uint64_t open;
    atomic_int *next_unit;
    uint64_t nfresh[MAXU];
    int failed;
} Worker;

static void *work(void *arg) {
    Worker *k = arg;
    Ctx *c = k->c;
    int n = k->phase == 2 ? (int)c->ngroups : k->nunits;
    for (;;) {
        int u = atomic_fetch_add(k->next_unit, 1);
        if (u >= n) break;
        if (k->phase == 1) expand_unit(c, &c->unit[u], k->open);
        else if (k->phase == 2) k->failed |= insert_group(c, k->nunits, (unsigned)u, k->nfresh) != 0;
        else place_unit(c, &c->unit[u]);
    }
    return NULL;
}

/* Run one phase on nt threads (the caller is thread 0). */
static void run_phase(Worker *ws, int nt, int phase, atomic_int *next_unit) {
    atomic_store(next_unit, 0);
    for (int t = 0; t < nt; t++) ws[t].phase = phase;
    if (nt == 1) { work(&ws[0]); return; }
    pthread_t th[MAXT];
    int started[MAXT] = {0};
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, work, &ws[t]) == 0;
    work(&ws[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else work(&ws[t]);
    }
}

/* Expand states [from, to) of the current level. Returns 0, -1 when out of memory, -2 when
 * the states would no longer fit 32-bit indices. */
int ctx_expand(Ctx *c, uint64_t from, uint64_t to, uint64_t open, int nthreads) {
    if (to <= from) return 0;
    uint64_t n = to - from;
    int nt = nthreads < 1 ? 1 : nthreads > MAXT ? MAXT : nthreads;
    if ((uint64_t)nt > n) nt = (int)n;
    int nunits = 1;
    if (nt > 1) {
        uint64_t want = (n + UNIT_STATES - 1) / UNIT_STATES, least = (uint64_t)(nt * UNITS_PER_THREAD);
        want = want < least ? least : want > MAXU ? MAXU : want;
        nunits = (int)(want < n ? want : n);
    }
    uint64_t span = (n + (uint64_t)nunits - 1) / (uint64_t)nunits;
    for (int u = 0; u < nunits; u++) {
        uint64_t lo = from + span * (uint64_t)u, hi = lo + span;
        c->unit[u].from = lo < to ? lo : to;
        c->unit[u].to = hi < to ? hi : to;
    }
    c->ngroups = (unsigned)(nt == 1 ? 1 : nt * UNITS_PER_THREAD);
    if (c->ngroups > MAXG) c->ngroups = MAXG;
    Worker *ws = calloc((size_t)nt, sizeof(Worker));
    if (!ws) return -1;
    atomic_int next_unit;
    for (int t = 0; t < nt; t++) {
        ws[t].c = c; ws[t].nunits = nunits;
        ws[t].open = open; ws[t].next_unit = &next_unit;
    }
    int rc = 0;
    run_phase(ws, nt, 1, &next_unit);
    for (int u = 0; u < nunits; u++) if (c->unit[u].failed) rc = -1;
    if (rc == 0) {
        run_phase(ws, nt, 2, &next_unit);
        for (int t = 0; t < nt; t++) if (ws[t].failed) rc = -1;
    }
    uint64_t total = 0, ncand = 0;
    if (rc == 0) {
        for (int u = 0; u < nunits; u++) {
            Unit *w = &c->unit[u];
            w->nfresh = 0;
            for (int t = 0; t < nt; t++) w->nfresh += ws[t].nfresh[u];
            w->base = c->nstates + total;
            w->next_base = c->nnext + total;
            total += w->nfresh;
            ncand += w->ncand;
            c->transitions += w->transitions;
        }
        if (c->nstates + total > MAX_STATES) rc = -2;
    }
    if (rc == 0 && ncand) {  /* phase 3 also marks the candidates that were not new */
        uint64_t scap = c->scap;
        if (grow((void **)&c->parent, &scap, c->nstates + total, sizeof(uint32_t))) rc = -1;
        else if (scap != c->scap) {
            if (resize((void **)&c->via, scap, sizeof(uint16_t))) rc = -1;
            else c->scap = scap;
        }
        if (rc == 0 && grow((void **)&c->next, &c->next_cap, (c->nnext + total) * NW, sizeof(uint64_t))) rc = -1;
        if (rc == 0) run_phase(ws, nt, 3, &next_unit);
    }
    free(ws);
    if (rc != 0) return rc;
    c->nstates += total;
    c->nnext += total;
    for (int u = 0; u < nunits; u++) {
        const Unit *w = &c->unit[u];
        for (uint64_t e = 0; e < w->nev; e++) {
            const Ev *r = &w->ev[e];
            if (r->tbits && add_event(c, r->parent, r->inst, r->tbits)) return -1;
            if (r->slot == NONE) continue;
            uint64_t idx = w->own[r->group].v[r->slot];
            if (idx != NONE && add_event(c, (uint32_t)idx, -1, r->sbits)) return -1;
        }
    }
    return 0;
}

/* The next level becomes the current one; returns its size. The current level's buffer is
 * kept for the level after (its pages are already mapped). */
uint64_t ctx_advance(Ctx *c) {
    uint64_t *old = c->cur, cap = c->cur_cap;
    c->cur_base = c->nstates - c->nnext;
    c->cur = c->next;
    c->cur_cap = c->next_cap;
    c->ncur = c->nnext;
    c->next = old;
    c->next_cap = cap;
    c->nnext = 0;
    return c->ncur;
}

uint64_t ctx_states(const Ctx *c) { return c->nstates; }
uint64_t ctx_transitions(const Ctx *c) { return c->transitions; }
uint64_t ctx_events(const Ctx *c) { return c->nev; }
void ctx_event(const Ctx *c, uint64_t i, uint32_t *state, int32_t *inst, uint64_t *bits) {
    *state = c->ev_state[i]; *inst = c->ev_inst[i]; *bits = c->ev_bits[i];
}
void ctx_clear_events(Ctx *c) { c->nev = 0; }
/* State idx's parent and the instance that reached it (-1 for the initial state; -2 if
 * there is no such state), for tests. */
int ctx_link(const Ctx *c, uint64_t idx, uint32_t *parent) {
    if (idx >= c->nstates) return -2;
    *parent = c->parent[idx];
    return c->via[idx] == 0xFFFF ? -1 : (int)c->via[idx];
}
uint64_t ctx_stored_bytes(const Ctx *c) {
    uint64_t slots = 0;
    for (unsigned s = 0; s < NSHARD; s++) slots += c->shard[s].cap;
    return slots * sizeof(uint64_t) + c->nstates * (sizeof(uint32_t) + sizeof(uint16_t));
}

/* Successor of ``s`` by instance ``n`` (1 if enabled), for replay and tests. */
int native_step(int n, const cell *s, cell *o, uint64_t *bad, uint64_t *hit) {
    if (n < 0 || n >= NI) return 0;
    return STEPS[n](s, o, bad, hit);
}
void native_state_check(const cell *s, uint64_t *bad, uint64_t *hit) { state_check(s, bad, hit); }
int native_cell_bytes(void) { return (int)sizeof(cell); }
int native_canon(cell *s) { return canon(s); }
int native_permutations(void) { return NPERM; }
int native_padded_vars(void) { return NVP; }

/* ---- fewest CPU switches among shortest paths --------------------------------------------
 * level_start[d] is the first index of level d, for d = 0 .. depth + 1. For every state of
 * levels 0 .. depth and every last CPU (slot 0: none yet), the fewest switches over shortest
 * paths, with the predecessor and instance, as the Python explorer computes them. */
int ctx_fewest_switches(Ctx *c, const cell *init, const uint64_t *level_start, int depth) {
    uint64_t n = level_start[depth + 1];
    free(c->dp_sw); free(c->dp_pidx); free(c->dp_plast); free(c->dp_num);
    c->dp_sw = malloc(n * K);
    c->dp_pidx = malloc(n * K * sizeof(uint32_t));
    c->dp_plast = malloc(n * K);
    c->dp_num = malloc(n * K * sizeof(int32_t));
    c->dp_n = n;
    if (!c->dp_sw || !c->dp_pidx || !c->dp_plast || !c->dp_num) return -1;
    memset(c->dp_sw, SW_NONE, n * K);
    c->dp_sw[0] = 0;
    c->dp_pidx[0] = 0;
    c->dp_plast[0] = -2;
    c->dp_num[0] = -1;
    cell s[NVP], out[NVP];
    uint64_t packed[NW];
    uint64_t *prev = malloc(sizeof(uint64_t) * NW);
    if (!prev) return -1;
    canon_packed(init, prev);
    for (int d = 0; d < depth; d++) {
        uint64_t lo = level_start[d], hi = level_start[d + 1], nhi = level_start[d + 2];
        /* Regenerate the next level's states from their parents, and map them. */
        uint64_t *nxt = malloc(sizeof(uint64_t) * NW * (nhi > hi ? nhi - hi : 1));
        LevelMap map;
        if (!nxt || levelmap_init(&map, nhi - hi)) { free(prev); free(nxt); return -1; }
        for (uint64_t idx = hi; idx < nhi; idx++) {
            uint64_t bad, hit;
            unpack(prev + (c->parent[idx] - lo) * NW, s);
            STEPS[c->via[idx]](s, out, &bad, &hit);
            canon_packed(out, nxt + (idx - hi) * NW);
            levelmap_put(&map, fingerprint(nxt + (idx - hi) * NW), (uint32_t)idx);
        }
        for (uint64_t idx = lo; idx < hi; idx++) {
            int any = 0;
            for (int l = 0; l < K; l++) any |= c->dp_sw[idx * K + l] != SW_NONE;
            if (!any) continue;
            unpack(prev + (idx - lo) * NW, s);
            for (int num = 0; num < NI; num++) {
                uint64_t bad, hit;
                if (!STEPS[num](s, out, &bad, &hit)) continue;
                int perm = canon_packed(out, packed);
                int64_t succ = levelmap_get(&map, fingerprint(packed));
                if (succ < 0) continue;
                int cpu = INST_CPU[num];
                for (int l = 0; l < K; l++) {
                    uint8_t sw = c->dp_sw[idx * K + l];
                    if (sw == SW_NONE) continue;
                    int last = l - 1;
                    int nsw = sw + ((cpu >= 0 && last >= 0 && cpu != last) ? 1 : 0);
                    int nlast = cpu < 0 ? last : cpu;
                    /* The successor's representative renames CPUs (CPU symmetry): so does its last CPU. */
                    if (nlast >= 0) nlast = PERM_CPU[perm > 0 ? perm : 0][nlast];
                    uint64_t key = (uint64_t)succ * K + (uint64_t)(nlast + 1);
                    if (nsw < c->dp_sw[key]) {
                        c->dp_sw[key] = (uint8_t)(nsw < SW_NONE ? nsw : SW_NONE - 1);
                        c->dp_pidx[key] = (uint32_t)idx;
                        c->dp_plast[key] = (int8_t)last;
                        c->dp_num[key] = num;
                    }
                }
            }
        }
        free(map.keys); free(map.vals);
        free(prev);
        prev = nxt;
    }
    free(prev);
    return 0;
}

/* The entry (idx, last) of the fewest-switch pass: 0 if undefined. */
int ctx_dp_entry(const Ctx *c, uint32_t idx, int last, int *sw, uint32_t *pidx, int *plast, int *num) {
    if (idx >= c->dp_n || last < -1 || last >= NCPU) return 0;
    uint64_t key = (uint64_t)idx * K + (uint64_t)(last + 1);
    if (c->dp_sw[key] == SW_NONE) return 0;
    *sw = c->dp_sw[key];
    *pidx = c->dp_pidx[key];
    *plast = c->dp_plast[key];
    *num = c->dp_num[key];
    return 1;
}
