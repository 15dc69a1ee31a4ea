/*
 * The scenario runner: plays parsed statements against simulated
 * machines, one after the other.  It owns the named things a scenario
 * creates (FDs, IOMMUs, devices, memory, variables) and the trace sink,
 * compares each outcome with the line's expectation, and prints the
 * story: every line, its result, and with --explain the trace events the
 * line caused, told as sentences.  A line that does not hold is reported
 * as file:line on stderr and ends the script unless --keep-going.  What
 * each verb does is in verbs.c.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/runner.h"

/* ------------------------------------------------------------ output */

/* A line that could not be carried out, at file:line[:col]. */
void run_error(struct runner *r, unsigned col, const char *fmt, ...)
{
	va_list ap;

	fflush(r->out);
	if (col)
		fprintf(stderr, "%s:%u:%u: error: ", r->sc->file, r->st->line,
			col);
	else
		fprintf(stderr, "%s:%u: error: ", r->sc->file, r->st->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *err_text(int rc, char *buf, size_t len)
{
	const char *name = cli_errno_name(-rc);

	if (!rc)
		snprintf(buf, len, "success");
	else if (name)
		snprintf(buf, len, "%s (%s)", name, strerror(-rc));
	else
		snprintf(buf, len, "error %d", -rc);
	return buf;
}

void run_print_value(FILE *f, uint64_t v)
{
	if (v < 0x10000)
		fprintf(f, "%" PRIu64, v);
	else
		fprintf(f, "%#" PRIx64, v);
}

/* ------------------------------------------------------------- names */

struct named *run_named_find(struct named *v, unsigned n,
			     const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(v[i].name, name))
			return &v[i];
	}
	return NULL;
}

void run_named_add(struct named **v, unsigned *n, const char *name,
		   void *ptr)
{
	*v = cli_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = cli_xstrdup(name);
	(*v)[(*n)++].ptr = ptr;
}

static void named_clear(struct named *v, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		free(v[i].name);
	*n = 0;
}

void run_var_set(struct runner *r, const char *name, uint64_t value)
{
	for (unsigned i = 0; i < r->nvars; i++) {
		if (!strcmp(r->vars[i].name, name)) {
			r->vars[i].value = value;
			return;
		}
	}
	r->vars = cli_xrealloc(r->vars, (r->nvars + 1) * sizeof(*r->vars));
	r->vars[r->nvars].name = cli_xstrdup(name);
	r->vars[r->nvars++].value = value;
}

static bool var_get(void *arg, const char *name, uint64_t *value)
{
	struct runner *r = arg;

	for (unsigned i = 0; i < r->nvars; i++) {
		if (!strcmp(r->vars[i].name, name)) {
			*value = r->vars[i].value;
			return true;
		}
	}
	return false;
}

bool run_eval(struct runner *r, const char *s, unsigned col,
	      const struct cli_sym *syms, uint64_t *v)
{
	struct cli_expr_env env = {
		.var = var_get, .arg = r, .syms = syms,
		.page_size = r->page_size,
	};
	struct cli_diag d;

	if (!cli_expr_eval(s, &env, v, &d))
		return true;
	run_error(r, col + d.col, "%s", d.msg);
	return false;
}

bool run_eval_tok(struct runner *r, unsigned i, uint64_t *v)
{
	return run_eval(r, r->st->tok[i].s, r->st->tok[i].col, NULL, v);
}

struct isim_fd *run_fd(struct runner *r, unsigned i)
{
	struct named *n = run_named_find(r->fds, r->nfds, r->st->tok[i].s);

	if (!n) {
		run_error(r, r->st->tok[i].col, "FD '%s' is not open",
			  r->st->tok[i].s);
		return NULL;
	}
	r->cur_fd = n->ptr;
	return n->ptr;
}

/* ------------------------------------------------------------- trace */

static void sink(void *arg, const struct isim_trace_event *ev)
{
	struct runner *r = arg;
	struct cli_event *e;

	pthread_mutex_lock(&r->lock);
	if (r->opts->trace)
		trace_writer_event(r->opts->trace, r->machine_no, ev);
	mirror_event(r->mirror, r->cur_fd, ev->point, ev->args);
	if (r->collecting && r->opts->explain) {
		if (r->nev == r->evcap) {
			r->evcap = r->evcap ? 2 * r->evcap : 64;
			r->ev = cli_xrealloc(r->ev, r->evcap * sizeof(*r->ev));
		}
		e = &r->ev[r->nev++];
		e->point = cli_xstrdup(ev->point);
		e->args = cli_xstrdup(ev->args);
	}
	pthread_mutex_unlock(&r->lock);
}

static void events_clear(struct runner *r)
{
	for (size_t i = 0; i < r->nev; i++) {
		free(r->ev[i].point);
		free(r->ev[i].args);
	}
	r->nev = 0;
}

/* ----------------------------------------------------------- machine */

static void teardown(struct runner *r)
{
	char report[4096];

	if (!r->m)
		return;
	for (unsigned i = 0; i < r->nfds; i++) {
		pthread_mutex_lock(&r->lock);
		r->cur_fd = r->fds[i].ptr;
		pthread_mutex_unlock(&r->lock);
		isim_close(r->fds[i].ptr);
	}
	pthread_mutex_lock(&r->lock);
	r->cur_fd = NULL;
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->nregions; i++) {
		if (!r->regions[i].mmap_fd)
			isim_mem_free(r->m, (void *)r->regions[i].va);
	}
	r->nregions = 0;
	if (isim_check(r->m, report, sizeof(report))) {
		fflush(r->out);
		fprintf(stderr,
			"%s: note: after closing everything of machine %u the invariants do not hold:\n%s",
			r->sc->file, r->machine_no, report);
	}
	isim_machine_free(r->m);
	r->m = NULL;
	vmm_reset(r);
	pthread_mutex_lock(&r->lock);
	mirror_reset(r->mirror);
	pthread_mutex_unlock(&r->lock);
	named_clear(r->fds, &r->nfds);
	named_clear(r->iommus, &r->niommus);
	named_clear(r->devices, &r->ndevices);
}

int run_machine_start(struct runner *r, const struct isim_machine_config *cfg)
{
	int rc;

	teardown(r);
	rc = isim_machine_new(cfg, &r->m);
	if (rc)
		return rc;
	r->machine_no++;
	r->page_size = isim_machine_page_size(r->m);
	isim_trace_set_sink(r->m, sink, r);
	return 0;
}

static bool ensure_machine(struct runner *r)
{
	int rc;
	char buf[64];

	if (r->m)
		return true;
	rc = run_machine_start(r, NULL);
	if (rc)
		run_error(r, 0, "cannot make the default machine: %s",
			  err_text(rc, buf, sizeof(buf)));
	return !rc;
}

/* ----------------------------------------------------------- verdict */

/*
 * @rc is 0 or -errno from the simulator, or 1 when the line could not be
 * carried out (already reported).  Prints the outcome; true if it held.
 */
static bool verdict(struct runner *r, int rc)
{
	const struct scn_stmt *st = r->st;
	int want = st->has_expect ? -st->expect_err : 0;
	char got[96];

	if (rc > 0)
		return false;
	if (rc == want) {
		if (r->opts->quiet || !st->has_expect || !want)
			return true;
		fprintf(r->out, IND "%s, as expected\n", cli_errno_name(-rc));
		return true;
	}
	fflush(r->out);
	fprintf(stderr, "%s:%u: expected %s, got %s\n", r->sc->file, st->line,
		want ? cli_errno_name(-want) : "success",
		err_text(rc, got, sizeof(got)));
	return false;
}

/* What a line's own result is called when no `-> VAR` names it. */
static const char *result_name(const struct scn_stmt *st)
{
	const struct cli_vsub *d;

	switch (st->verb) {
	case V_CMDQV:
	case V_AMD:
		d = cli_vsub_find(st->verb, st->tok[1].s);
		return d ? d->result : NULL;
	case V_BIND: return "dev_id";
	case V_ATTACH:
	case V_REPLACE: return "pt_id";
	case V_PEEK: return "value";
	case V_MMAP: return "address";
	case V_RUN: return "work";
	default: return NULL;
	}
}

/* "ok", with the values the line bound or produced. */
static void print_ok(struct runner *r, const struct ioctl_result *res,
		     uint64_t result)
{
	const struct scn_stmt *st = r->st;
	const char *name = result_name(st);

	if (r->opts->quiet)
		return;
	if (st->verb == V_CHECK) {
		fprintf(r->out, IND "ok: the invariants hold\n");
		return;
	}
	if (st->verb == V_RUN && !st->nouts) {
		fprintf(r->out, IND "ok: the hardware models did %" PRIu64 " units of work\n",
			result);
		return;
	}
	if (!st->nouts && !res && !name)
		return;
	fprintf(r->out, IND "ok");
	for (unsigned i = 0; i < st->nouts; i++) {
		uint64_t v = result;

		if (res)
			v = run_field_load(res->buf, st->outs[i].field ?
					   st->outs[i].field : res->shown);
		fprintf(r->out, "%s$%s = ", i ? ", " : ": ", st->outs[i].var);
		run_print_value(r->out, v);
	}
	if (!st->nouts && (name || (res && res->shown))) {
		fprintf(r->out, " (%s = ", name ? name : res->shown->name);
		run_print_value(r->out, name ? result :
				run_field_load(res->buf, res->shown));
		fputc(')', r->out);
	}
	fputc('\n', r->out);
}

/* One statement: echo, run, explain, judge. */
static bool play_one(struct runner *r)
{
	const struct scn_stmt *st = r->st;
	struct ioctl_result *res = NULL;
	bool held;
	uint64_t result = 0;
	int rc;

	if (st->verb == V_SAY) {
		fprintf(r->out, "%s\n", st->text);
		return true;
	}
	if (st->verb != V_MACHINE && !ensure_machine(r))
		return false;
	if (!r->opts->quiet)
		fprintf(r->out, "  $ %s\n", st->src);
	if (st->verb == V_IOCTL)
		res = cli_xrealloc(NULL, sizeof(*res));
	pthread_mutex_lock(&r->lock);
	events_clear(r);
	r->collecting = true;
	pthread_mutex_unlock(&r->lock);
	rc = run_execute(r, res, &result);
	pthread_mutex_lock(&r->lock);
	r->collecting = false;
	r->cur_fd = NULL;
	pthread_mutex_unlock(&r->lock);
	if (r->opts->explain && !r->opts->quiet) {
		explain_events(r->out, IND "· ", r->ev, r->nev);
		/* The dispatcher's own checks run before its first event. */
		if (res && rc < 0 && !r->nev)
			fprintf(r->out, IND "· the dispatcher refuses the struct before any handler runs (unknown number, size below the last mandatory field, non-zero bytes past the struct): %s\n",
				cli_errno_name(-rc) ? cli_errno_name(-rc) : "an error");
	}
	held = verdict(r, rc);
	/* An ioctl that failed as expected may still have written back
	 * (EMSGSIZE with the count needed): its outs bind too. */
	if (held && (!rc || res)) {
		for (unsigned i = 0; i < st->nouts; i++) {
			const struct cli_field *f = st->outs[i].field;

			if (res && !f)
				f = res->shown;
			run_var_set(r, st->outs[i].var,
				    res ? run_field_load(res->buf, f) : result);
		}
	}
	if (held && !rc)
		print_ok(r, res, result);
	free(res);
	return held;
}

int scn_play(const struct scn_script *sc, const struct cli_opts *opts)
{
	struct runner r = {
		.sc = sc, .opts = opts, .out = opts->out ? opts->out : stdout,
		.page_size = 4096,
	};
	unsigned failed = 0;

	pthread_mutex_init(&r.lock, NULL);
	r.mirror = mirror_new();
	for (unsigned i = 0; i < sc->n; i++) {
		r.st = &sc->v[i];
		if (play_one(&r))
			continue;
		failed++;
		if (!opts->keep_going) {
			fprintf(stderr, "%s:%u: stopping here (-k plays on)\n",
				sc->file, r.st->line);
			break;
		}
	}
	if (opts->dot_out) {
		struct cli_named_fd fds[16];
		unsigned n = 0;

		for (unsigned i = 0; i < r.nfds && n < ARRAY_SIZE(fds); i++) {
			fds[n].name = r.fds[i].name;
			fds[n++].fd = r.fds[i].ptr;
		}
		dot_write(opts->dot_out, fds, n);
	}
	teardown(&r);
	events_clear(&r);
	free(r.ev);
	mirror_free(r.mirror);
	for (unsigned i = 0; i < r.nvars; i++)
		free(r.vars[i].name);
	free(r.vars);
	free(r.regions);
	free(r.fds);
	free(r.iommus);
	free(r.devices);
	pthread_mutex_destroy(&r.lock);
	return failed ? 1 : 0;
}
