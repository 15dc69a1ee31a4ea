/*
 * The scenario parser: turns a file into statements before anything runs,
 * so that every malformed line is reported at once with file:line:col,
 * what was expected, and the closest valid names.  Each line is split into
 * words; a word starting with '#' starts a comment.  The `-> VAR[=field]`
 * and `=> ERRNO` clauses are taken off first, and the verb's positional and
 * key=value arguments counted against its table; parse_check.c then checks
 * what the arguments say: keys, ioctl and field names, the syntax of every
 * value, and that each $VAR, FD, device and IOMMU name is set by an
 * earlier line.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/parse.h"

const struct verb_desc cli_verbs[] = {
	{ "machine", V_MACHINE, 0, 16, true, false, false,
	  "machine [mem=SIZE] [page=4K|16K|64K] [frag=F] [seed=N] [threaded] [v8] [contig=per-page|block|runs] [index_quirk] [memlock=SIZE]" },
	{ "iommu", V_IOMMU, 2, 2, true, false, true,
	  "iommu NAME DRIVER [key=value ...]" },
	{ "device", V_DEVICE, 1, 2, false, false, true, "device NAME [IOMMU]" },
	{ "mem", V_MEM, 2, 2, true, false, true,
	  "mem NAME SIZE [backing=4k|thp|hugetlb2m|hugetlb1g]" },
	{ "open", V_OPEN, 1, 1, false, false, false, "open FD" },
	{ "close", V_CLOSE, 1, 1, false, false, false, "close FD" },
	{ "bind", V_BIND, 2, 2, false, true, true, "bind FD DEVICE -> VAR" },
	{ "unbind", V_UNBIND, 2, 2, false, false, true, "unbind FD DEV_ID" },
	{ "attach", V_ATTACH, 3, 3, false, true, true,
	  "attach FD DEV_ID PT_ID [-> VAR]" },
	{ "replace", V_REPLACE, 3, 3, false, true, true,
	  "replace FD DEV_ID PT_ID [-> VAR]" },
	{ "detach", V_DETACH, 2, 2, false, false, true, "detach FD DEV_ID" },
	{ "ioctl", V_IOCTL, 2, 2, true, true, true,
	  "ioctl FD NAME [field=VALUE ...] [-> VAR[=out_field]] [=> ERRNO]" },
	{ "run", V_RUN, 0, 1, false, true, false, "run [BUDGET] [-> VAR]" },
	{ "check", V_CHECK, 0, 0, false, false, true, "check" },
	{ "show", V_SHOW, 1, 3, false, false, false,
	  "show objects [FD] | refs [FD] | areas IOAS_ID [FD] | pins | vars | queue FD HWQ" },
	{ "dot", V_DOT, 1, 2, false, false, false, "dot FILE [FD]" },
	{ "say", V_SAY, 0, 0, false, false, false, "say TEXT" },
	{ "set", V_SET, 2, 2, false, false, false, "set VAR VALUE" },
	{ "expect", V_EXPECT, 1, 3, false, false, false,
	  "expect VALUE [==|!=|<|<=|>|>= VALUE]" },
	{ "poke", V_POKE, 2, 2, true, false, false,
	  "poke ADDRESS VALUE [size=1|2|4|8]" },
	{ "peek", V_PEEK, 1, 1, true, true, false,
	  "peek ADDRESS [size=1|2|4|8] -> VAR" },
	{ "mmap", V_MMAP, 3, 3, false, true, true,
	  "mmap FD OFFSET LENGTH -> VAR" },
	{ "munmap", V_MUNMAP, 3, 3, false, false, true,
	  "munmap FD ADDRESS LENGTH" },
	{ "fail_nth", V_FAIL_NTH, 1, 1, false, false, false, "fail_nth N" },
	{ "dma", V_DMA, 5, 5, false, false, true,
	  "dma DEVICE read|write IOVA ADDRESS LENGTH" },
	{ "page_request", V_PAGE_REQUEST, 3, 3, true, false, true,
	  "page_request DEVICE ADDRESS GROUP [pasid=N] [flags=READ|WRITE|EXEC|PRIV|LAST]" },
	{ "cmdqv", V_CMDQV, 2, 6, true, true, true,
	  "cmdqv FD enable|disable|push|doorbell|ack|skip|reg|iotlb|vevents ..." },
	{ "amd", V_AMD, 2, 6, true, true, true,
	  "amd FD control|cmd|tail|reset|log|status|clear|responses ..." },
};
const size_t cli_nverbs = ARRAY_SIZE(cli_verbs);

const char *scn_verb_name(enum scn_verb v)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++) {
		if (cli_verbs[i].verb == v)
			return cli_verbs[i].name;
	}
	return "?";
}

void cli_perr(struct parser *p, unsigned col, const char *fmt, ...)
{
	va_list ap;

	if (p->line_failed)
		return;
	p->line_failed = true;
	p->errors++;
	fprintf(p->err, "%s:%u:%u: error: ", p->file, p->line, col);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fprintf(p->err, "\n    %s\n    %*s^\n", p->src, col > 0 ? (int)col - 1 : 0,
		"");
}

bool cli_is_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	}
	return true;
}

/* The line as echoed: without its comment and trailing blanks. */
static char *shown_text(const char *s)
{
	size_t end = 0;

	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t'))
			break;
		if (s[i] != ' ' && s[i] != '\t')
			end = i + 1;
	}
	return cli_xstrndup(s, end);
}

static char *next_word(char **pp)
{
	char *p = *pp, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#') {
		*pp = p;
		return NULL;
	}
	w = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = 0;
	*pp = p;
	return w;
}

/* `-> VAR[=field]`: *field gets the field's name, resolved later. */
static void parse_out(struct parser *p, struct scn_stmt *st, char *w,
		      unsigned col, char **field)
{
	struct scn_out *o;
	char *eq;

	if (!w) {
		cli_perr(p, col, "expected a variable name after '->'");
		return;
	}
	if (st->nouts == SCN_MAX_OUTS) {
		cli_perr(p, col, "at most %d '->' clauses per line", SCN_MAX_OUTS);
		return;
	}
	o = &st->outs[st->nouts++];
	o->col = col;
	eq = strchr(w, '=');
	if (eq) {
		*eq = 0;
		*field = eq + 1;
	}
	o->var = cli_xstrdup(w);
	if (!cli_is_name(w) || strchr(w, '-'))
		cli_perr(p, col, "'%s' is not a variable name", w);
}

static void parse_expect(struct parser *p, struct scn_stmt *st, char *w,
			 unsigned col)
{
	struct cli_suggest sg;
	char hint[160];

	st->has_expect = true;
	st->expect_col = col;
	if (!w) {
		cli_perr(p, col, "expected an errno name after '=>'");
		return;
	}
	if (!strcmp(w, "0") || !strcmp(w, "ok") || !strcmp(w, "OK")) {
		st->expect_err = 0;
		return;
	}
	if (cli_errno_lookup(w, &st->expect_err))
		return;
	cli_suggest_init(&sg, w);
	cli_errno_suggest(&sg);
	cli_perr(p, col, "unknown errno '%s'%s", w,
		 cli_suggest_text(&sg, hint, sizeof(hint)));
}

/* Resolve `-> VAR=field` names once the ioctl is known. */
static void resolve_outs(struct parser *p, struct scn_stmt *st,
			 char *const *fields)
{
	struct cli_suggest sg;
	char hint[160];

	for (unsigned i = 0; i < st->nouts; i++) {
		struct scn_out *o = &st->outs[i];

		o->field = NULL;
		if (!fields[i]) {
			if (st->verb == V_IOCTL && st->ioc && !st->ioc->out)
				cli_perr(p, o->col, "%s has no default out field: write -> %s=FIELD",
					 st->ioc->name, o->var);
			continue;
		}
		if (st->verb != V_IOCTL) {
			cli_perr(p, o->col, "only ioctl lines bind a named field (-> VAR=field)");
			continue;
		}
		if (!st->ioc)
			continue;
		o->field = cli_field_find(st->ioc, fields[i]);
		if (!o->field) {
			cli_suggest_init(&sg, fields[i]);
			cli_field_suggest(st->ioc, &sg);
			cli_perr(p, o->col, "%s has no field '%s'%s", st->ioc->name,
				 fields[i], cli_suggest_text(&sg, hint, sizeof(hint)));
		}
	}
}

static const struct verb_desc *find_verb(struct parser *p, const char *w,
					 unsigned col)
{
	struct cli_suggest sg;
	char hint[160];

	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++) {
		if (!strcmp(cli_verbs[i].name, w))
			return &cli_verbs[i];
	}
	cli_suggest_init(&sg, w);
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++)
		cli_suggest_add(&sg, cli_verbs[i].name);
	cli_perr(p, col, "unknown verb '%s'%s", w,
		 cli_suggest_text(&sg, hint, sizeof(hint)));
	return NULL;
}

/* A token of the first @n bytes of @w, trailing blanks dropped. */
static struct scn_tok *add_tok_n(struct scn_stmt *st, const char *w,
				 size_t n, unsigned col)
{
	struct scn_tok *t;

	while (n && (w[n - 1] == ' ' || w[n - 1] == '\t'))
		n--;
	st->tok = cli_xrealloc(st->tok, (st->ntok + 1) * sizeof(*st->tok));
	t = &st->tok[st->ntok++];
	memset(t, 0, sizeof(*t));
	t->s = cli_xstrndup(w, n);
	t->col = col;
	return t;
}

/* A word; with @kv, `key=value` becomes key with its value. */
static struct scn_tok *add_tok(struct scn_stmt *st, const char *w,
			       unsigned col, bool kv)
{
	const char *eq = kv ? strchr(w, '=') : NULL;
	struct scn_tok *t;

	if (!eq || eq == w)
		return add_tok_n(st, w, strlen(w), col);
	t = add_tok_n(st, w, (size_t)(eq - w), col);
	t->val = cli_xstrdup(eq + 1);
	return t;
}

/*
 * `expect A [OP B]`: the values may hold blanks, so the rest of the line
 * (up to a comment) is split at the first comparison instead of into
 * words.  The tokens are A, or A, OP and B.
 */
static void split_comparison(struct parser *p, struct scn_stmt *st,
			     const char *line, size_t from)
{
	static const char *const ops[] = { "==", "!=", "<=", ">=", "<", ">" };
	char *rest = shown_text(line + from);
	size_t a = 0, at, b, oplen = 0;
	unsigned col = (unsigned)from + 1;

	while (rest[a] == ' ' || rest[a] == '\t')
		a++;
	for (at = a; rest[at] && !oplen; at++) {
		for (size_t k = 0; k < ARRAY_SIZE(ops) && !oplen; k++) {
			if (!strncmp(rest + at, ops[k], strlen(ops[k])))
				oplen = strlen(ops[k]);
		}
	}
	at -= !!oplen;		/* the loop stepped past the operator */
	b = at + oplen;
	while (rest[b] == ' ' || rest[b] == '\t')
		b++;
	if (at == a)
		cli_perr(p, col + (unsigned)a, "expected a value; expected: %s",
			 "expect VALUE [==|!=|<|<=|>|>= VALUE]");
	else if (oplen && !rest[b])
		cli_perr(p, col + (unsigned)b, "expected a value after '%.*s'",
			 (int)oplen, rest + at);
	if (!p->line_failed) {
		add_tok_n(st, rest + a, at - a, col + (unsigned)a);
		if (oplen) {
			add_tok_n(st, rest + at, oplen, col + (unsigned)at);
			add_tok_n(st, rest + b, strlen(rest + b), col + (unsigned)b);
		}
	}
	free(rest);
}

/* Parse one line; returns false for a blank or comment line. */
static bool parse_line(struct parser *p, char *line, struct scn_stmt *st)
{
	char *buf = cli_xstrdup(line), *cur = buf, *w;
	char *out_fields[SCN_MAX_OUTS] = { 0 };
	const struct verb_desc *vd;
	unsigned npos = 0;

	memset(st, 0, sizeof(*st));
	st->line = p->line;
	w = next_word(&cur);
	if (!w) {
		free(buf);
		return false;
	}
	st->src = shown_text(line + (w - buf));
	vd = find_verb(p, w, (unsigned)(w - buf) + 1);
	if (!vd)
		goto out;
	st->verb = vd->verb;
	if (vd->verb == V_SAY) {
		const char *t = line + (cur - buf);

		while (*t == ' ' || *t == '\t')
			t++;
		st->text = cli_xstrdup(t);
		/* A say line keeps its '#'s: the whole rest is the text. */
		free(st->src);
		st->src = cli_xstrdup(line + (w - buf));
		goto out;
	}
	if (vd->verb == V_EXPECT) {
		split_comparison(p, st, line, (size_t)(cur - buf));
		goto check;
	}
	while ((w = next_word(&cur))) {
		unsigned col = (unsigned)(w - buf) + 1;

		if (!strcmp(w, "->")) {
			char *v = next_word(&cur);
			unsigned vcol = v ? (unsigned)(v - buf) + 1 : col + 2;

			if (!vd->outs)
				cli_perr(p, col, "%s does not set a variable ('->')",
					 vd->name);
			parse_out(p, st, v, vcol, &out_fields[st->nouts]);
			continue;
		}
		if (!strcmp(w, "=>")) {
			char *v = next_word(&cur);

			if (!vd->expect)
				cli_perr(p, col, "%s cannot fail with an errno ('=>')",
					 vd->name);
			if (st->has_expect)
				cli_perr(p, col, "only one '=>' per line");
			parse_expect(p, st, v, v ? (unsigned)(v - buf) + 1 : col + 2);
			continue;
		}
		if (st->has_expect) {
			cli_perr(p, col, "unexpected '%s' after '=> ERRNO'", w);
			continue;
		}
		if (st->nouts) {
			cli_perr(p, col, "unexpected '%s' after '-> VAR'", w);
			continue;
		}
		if (!add_tok(st, w, col, vd->kv)->val) {
			if (npos >= vd->max)
				cli_perr(p, col, "too many arguments; expected: %s",
					 vd->usage);
			npos++;
		} else if (vd->verb == V_IOCTL && npos < 2) {
			cli_perr(p, col, "expected the FD and the ioctl name before fields; expected: %s",
				 vd->usage);
		}
	}
	if (npos < vd->min && !p->line_failed)
		cli_perr(p, (unsigned)strlen(st->src) + 2,
			 "missing arguments; expected: %s", vd->usage);
	if (vd->verb == V_IOCTL) {
		for (unsigned i = 2; i < st->ntok; i++) {
			if (!st->tok[i].val)
				cli_perr(p, st->tok[i].col, "expected field=VALUE, not '%s'",
					 st->tok[i].s);
		}
	}
check:
	if (!p->line_failed)
		cli_check_stmt(p, st);
	resolve_outs(p, st, out_fields);
	for (unsigned i = 0; i < st->nouts; i++)
		cli_set_add(&p->vars, st->outs[i].var);
	if (st->verb == V_MEM && st->ntok)
		cli_set_add(&p->vars, st->tok[0].s);
out:
	free(buf);
	return true;
}

static void stmt_free(struct scn_stmt *st)
{
	for (unsigned i = 0; i < st->ntok; i++) {
		free(st->tok[i].s);
		free(st->tok[i].val);
	}
	free(st->tok);
	for (unsigned i = 0; i < st->nouts; i++)
		free(st->outs[i].var);
	free(st->src);
	free(st->text);
}

unsigned scn_parse(const char *file, const char *text, FILE *err,
		   struct scn_script *out)
{
	struct parser p = { .file = file, .err = err };
	const char *s = text;

	memset(out, 0, sizeof(*out));
	out->file = cli_xstrdup(file);
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char *line = cli_xstrndup(s, len);
		struct scn_stmt st;

		if (len && line[len - 1] == '\r')
			line[len - 1] = 0;
		p.line++;
		p.src = line;
		p.line_failed = false;
		if (parse_line(&p, line, &st)) {
			out->v = cli_xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
			out->v[out->n++] = st;
		}
		free(line);
		s += len + (nl ? 1 : 0);
	}
	cli_set_free(&p.vars);
	cli_set_free(&p.fds);
	cli_set_free(&p.devices);
	cli_set_free(&p.iommus);
	return p.errors;
}

void scn_script_free(struct scn_script *sc)
{
	for (unsigned i = 0; i < sc->n; i++)
		stmt_free(&sc->v[i]);
	free(sc->v);
	free(sc->file);
	memset(sc, 0, sizeof(*sc));
}
