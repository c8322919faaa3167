/* The native explorer's runtime: breadth-first search over the generated step functions.
 *
 * Appended to the C that lufmodel.backends.cgen generates (STEPS, INST_CPU, state_check,
 * cell, NV, NVP, NI, NCPU, pack, unpack, NW). Stored per state: a 64-bit fingerprint in an
 * open-addressing table, the parent's index and the instance that reached it (14 bytes at
 * the table's fullest, 26 at its emptiest); states themselves, packed into NW words of bit
 * fields, only for the current and the next level. Levels are contiguous index ranges, so
 * a state's depth is known from the level boundaries the caller keeps.
 *
 * A level is expanded in chunks ([from, to) of the current level). Within a chunk, threads
 * expand contiguous parts into their own record streams (phase 1, the table is only read);
 * then the streams are merged in order (phase 2, inserts). The merge order is the order of
 * a sequential search, so indices, events and traces do not depend on the thread count.
 */
#include <stdlib.h>
#include <pthread.h>

typedef struct {
    uint64_t *keys;
    uint64_t cap, count;
    uint32_t *parent;
    uint16_t *via;
    uint64_t nstates, scap;
    uint64_t *cur;
    uint64_t ncur, cur_base;
    uint64_t *next;
    uint64_t nnext, next_cap;
    uint32_t *ev_state;
    int32_t *ev_inst;
    uint64_t *ev_bits;
    uint64_t nev, ev_cap;
    uint64_t transitions;
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

static int table_has(const uint64_t *keys, uint64_t cap, uint64_t fp) {
    uint64_t mask = cap - 1, i = fp & mask;
    for (;;) {
        uint64_t k = keys[i];
        if (k == 0) return 0;
        if (k == fp) return 1;
        i = (i + 1) & mask;
    }
}

static int table_rehash(Ctx *c, uint64_t ncap) {
    uint64_t *nk = calloc(ncap, sizeof(uint64_t));
    if (!nk) return -1;
    for (uint64_t j = 0; j < c->cap; j++) {
        uint64_t k = c->keys[j];
        if (!k) continue;
        uint64_t i = k & (ncap - 1);
        while (nk[i]) i = (i + 1) & (ncap - 1);
        nk[i] = k;
    }
    free(c->keys);
    c->keys = nk;
    c->cap = ncap;
    return 0;
}

/* Insert fp if absent: 1 if inserted, 0 if present, -1 on no memory. The table doubles at
 * 85% load, so its load stays between 42% and 85%. */
static int table_insert(Ctx *c, uint64_t fp) {
    if ((c->count + 1) * 20 > c->cap * 17 && table_rehash(c, c->cap * 2)) return -1;
    uint64_t mask = c->cap - 1, i = fp & mask;
    for (;;) {
        uint64_t k = c->keys[i];
        if (k == 0) {
            c->keys[i] = fp;
            c->count++;
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
    uint64_t cap = c->ev_cap;
    if (grow((void **)&c->ev_state, &cap, c->nev + 1, sizeof(uint32_t))) return -1;
    cap = c->ev_cap;
    if (grow((void **)&c->ev_inst, &cap, c->nev + 1, sizeof(int32_t))) return -1;
    cap = c->ev_cap;
    if (grow((void **)&c->ev_bits, &cap, c->nev + 1, sizeof(uint64_t))) return -1;
    c->ev_cap = cap;
    c->ev_state[c->nev] = state;
    c->ev_inst[c->nev] = inst;
    c->ev_bits[c->nev] = bits;
    c->nev++;
    return 0;
}

Ctx *ctx_new(const cell *init) {
    Ctx *c = calloc(1, sizeof(Ctx));
    if (!c) return NULL;
    c->cap = 1024;
    c->keys = calloc(c->cap, sizeof(uint64_t));
    c->cur = malloc(sizeof(uint64_t) * NW);
    if (!c->keys || !c->cur) return NULL;
    cell first[NVP];
    memcpy(first, init, sizeof(cell) * NVP);
    canon(first);
    pack(first, c->cur);
    c->ncur = 1;
    c->cur_base = 0;
    if (grow((void **)&c->parent, &c->scap, 1, sizeof(uint32_t))) return NULL;
    uint64_t vcap = 0;
    if (grow((void **)&c->via, &vcap, c->scap, sizeof(uint16_t))) return NULL;
    c->parent[0] = 0;
    c->via[0] = 0xFFFF;
    c->nstates = 1;
    table_insert(c, fingerprint(c->cur));
    return c;
}

void ctx_free(Ctx *c) {
    if (!c) return;
    free(c->keys); free(c->parent); free(c->via);
    free(c->cur); free(c->next);
    free(c->ev_state); free(c->ev_inst); free(c->ev_bits);
    free(c->dp_sw); free(c->dp_pidx); free(c->dp_plast); free(c->dp_num);
    free(c);
}

/* ---- one chunk of a level ------------------------------------------------------------ */

typedef struct {
    uint64_t fp;
    uint64_t tbits;
    uint32_t parent;
    int32_t inst;
    int32_t has_state;
} Rec;

typedef struct {
    const Ctx *c;
    uint64_t from, to, open;
    Rec *recs;
    uint64_t nrec, rcap;
    uint64_t *states;
    uint64_t nst, scap;
    uint64_t transitions;
    int failed;
} Part;

static void *expand_part(void *arg) {
    Part *p = arg;
    const Ctx *c = p->c;
    cell s[NVP], out[NVP];
    uint64_t packed[NW];
    for (uint64_t i = p->from; i < p->to; i++) {
        unpack(c->cur + i * NW, s);
        for (int n = 0; n < NI; n++) {
            uint64_t bad = 0, hit = 0;
            if (!STEPS[n](s, out, &bad, &hit)) continue;
            p->transitions++;
            canon(out);
            pack(out, packed);
            uint64_t fp = fingerprint(packed);
            uint64_t tbits = (bad | hit) & p->open;
            int known = table_has(c->keys, c->cap, fp);
            if (known && !tbits) continue;
            if (grow((void **)&p->recs, &p->rcap, p->nrec + 1, sizeof(Rec))) { p->failed = 1; return NULL; }
            Rec *r = &p->recs[p->nrec++];
            r->fp = fp;
            r->tbits = tbits;
            r->parent = (uint32_t)(c->cur_base + i);
            r->inst = n;
            r->has_state = !known;
            if (!known) {
                if (grow((void **)&p->states, &p->scap, (p->nst + 1) * NW, sizeof(uint64_t))) { p->failed = 1; return NULL; }
                memcpy(p->states + p->nst * NW, packed, sizeof(uint64_t) * NW);
                p->nst++;
            }
        }
    }
    return NULL;
}

/* Expand states [from, to) of the current level. Returns 0, or -1 when out of memory. */
int ctx_expand(Ctx *c, uint64_t from, uint64_t to, uint64_t open, int nthreads) {
    if (nthreads < 1) nthreads = 1;
    if ((uint64_t)nthreads > to - from) nthreads = (int)(to - from) > 0 ? (int)(to - from) : 1;
    Part parts[64];
    if (nthreads > 64) nthreads = 64;
    uint64_t span = (to - from + nthreads - 1) / nthreads;
    for (int t = 0; t < nthreads; t++) {
        memset(&parts[t], 0, sizeof(Part));
        parts[t].c = c;
        parts[t].open = open;
        parts[t].from = from + span * t < to ? from + span * t : to;
        parts[t].to = from + span * (t + 1) < to ? from + span * (t + 1) : to;
    }
    if (nthreads == 1) {
        expand_part(&parts[0]);
    } else {
        pthread_t th[64];
        int started[64] = {0};
        for (int t = 1; t < nthreads; t++) started[t] = pthread_create(&th[t], NULL, expand_part, &parts[t]) == 0;
        expand_part(&parts[0]);
        for (int t = 1; t < nthreads; t++) {
            if (started[t]) pthread_join(th[t], NULL);
            else expand_part(&parts[t]);
        }
    }
    int rc = 0;
    for (int t = 0; t < nthreads && rc == 0; t++) {
        Part *p = &parts[t];
        if (p->failed) { rc = -1; break; }
        c->transitions += p->transitions;
        uint64_t sidx = 0;
        cell cells[NVP];
        for (uint64_t j = 0; j < p->nrec; j++) {
            Rec *r = &p->recs[j];
            if (r->tbits && add_event(c, r->parent, r->inst, r->tbits)) { rc = -1; break; }
            if (!r->has_state) continue;
            const uint64_t *st = p->states + (sidx++) * NW;
            int got = table_insert(c, r->fp);
            if (got < 0) { rc = -1; break; }
            if (got == 0) continue;
            uint64_t idx = c->nstates;
            uint64_t scap = c->scap;
            if (grow((void **)&c->parent, &scap, idx + 1, sizeof(uint32_t))) { rc = -1; break; }
            if (scap != c->scap) {
                uint16_t *v = realloc(c->via, scap * sizeof(uint16_t));
                if (!v) { rc = -1; break; }
                c->via = v;
                c->scap = scap;
            }
            c->parent[idx] = r->parent;
            c->via[idx] = (uint16_t)r->inst;
            c->nstates++;
            if (grow((void **)&c->next, &c->next_cap, (c->nnext + 1) * NW, sizeof(uint64_t))) { rc = -1; break; }
            memcpy(c->next + c->nnext * NW, st, sizeof(uint64_t) * NW);
            c->nnext++;
            uint64_t sbad = 0, shit = 0;
            unpack(st, cells);
            state_check(cells, &sbad, &shit);
            uint64_t sbits = (sbad | shit) & open;
            if (sbits && add_event(c, (uint32_t)idx, -1, sbits)) { rc = -1; break; }
        }
    }
    for (int t = 0; t < nthreads; t++) { free(parts[t].recs); free(parts[t].states); }
    return rc;
}

/* The next level becomes the current one; returns its size. */
uint64_t ctx_advance(Ctx *c) {
    free(c->cur);
    c->cur_base = c->nstates - c->nnext;
    c->cur = c->next;
    c->ncur = c->nnext;
    c->next = NULL;
    c->next_cap = 0;
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
uint64_t ctx_stored_bytes(const Ctx *c) {
    return c->cap * sizeof(uint64_t) + c->nstates * (sizeof(uint32_t) + sizeof(uint16_t));
}

/* Successor of ``s`` by instance ``n`` (1 if enabled), for replay and tests. */
int native_step(int n, const cell *s, cell *o, uint64_t *bad, uint64_t *hit) {
    if (n < 0 || n >= NI) return 0;
    return STEPS[n](s, o, bad, hit);
}
void native_state_check(const cell *s, uint64_t *bad, uint64_t *hit) { state_check(s, bad, hit); }
int native_cell_bytes(void) { return (int)sizeof(cell); }
void native_canon(cell *s) { canon(s); }
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
    memcpy(s, init, sizeof(cell) * NVP);
    canon(s);
    pack(s, prev);
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
            canon(out);
            pack(out, nxt + (idx - hi) * NW);
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
                canon(out);
                pack(out, packed);
                int64_t succ = levelmap_get(&map, fingerprint(packed));
                if (succ < 0) continue;
                int cpu = INST_CPU[num];
                for (int l = 0; l < K; l++) {
                    uint8_t sw = c->dp_sw[idx * K + l];
                    if (sw == SW_NONE) continue;
                    int last = l - 1;
                    int nsw = sw + ((cpu >= 0 && last >= 0 && cpu != last) ? 1 : 0);
                    int nlast = cpu < 0 ? last : cpu;
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
