/*
 * The scenario parser: turns a file into statements before anything runs,
 * so that every malformed line is reported at once with file:line:col,
 * what was expected, and the closest valid names.  Each line is split into
 * words; a word starting with '#' starts a comment.  The `-> VAR[=field]`
 * and `=> ERRNO` clauses are taken off first, then the verb's own
 * arguments are checked: positional counts, keys, ioctl and field names,
 * the syntax of every value, and that each $VAR, FD, device and IOMMU
 * name is set by an earlier line.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"

struct verb_desc {
	const char *name;
	enum scn_verb verb;
	unsigned min, max;	/* positional arguments */
	bool kv;		/* arguments may be key=value */
	bool outs;		/* -> VAR allowed */
	bool expect;		/* => ERRNO allowed */
	const char *usage;
};

static const struct verb_desc verbs[] = {
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

const char *scn_verb_name(enum scn_verb v)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (verbs[i].verb == v)
			return verbs[i].name;
	}
	return "?";
}

/* Names set so far, to catch a use before any line sets it. */
struct name_set {
	char **v;
	unsigned n;
};

static bool set_has(const struct name_set *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (!strcmp(s->v[i], name))
			return true;
	}
	return false;
}

static void set_add(struct name_set *s, const char *name)
{
	if (set_has(s, name))
		return;
	s->v = cli_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = cli_xstrdup(name);
}

static void set_del(struct name_set *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (!strcmp(s->v[i], name)) {
			free(s->v[i]);
			s->v[i] = s->v[--s->n];
			return;
		}
	}
}

static void set_clear(struct name_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static void set_free(struct name_set *s)
{
	set_clear(s);
	free(s->v);
}

static void set_suggest(const struct name_set *s, struct cli_suggest *sg)
{
	for (unsigned i = 0; i < s->n; i++)
		cli_suggest_add(sg, s->v[i]);
}

struct parser {
	const char *file;
	FILE *err;
	unsigned line;
	const char *src;	/* the current line as written */
	unsigned errors;
	bool line_failed;
	struct name_set vars, fds, devices, iommus;
};

static void perr(struct parser *p, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, unsigned col, const char *fmt, ...)
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

static bool var_known(void *arg, const char *name)
{
	return set_has(&((struct parser *)arg)->vars, name);
}

/* Check the syntax and the names of a value at column @col. */
static void check_value(struct parser *p, const char *s, unsigned col,
			const struct cli_sym *syms)
{
	struct cli_expr_env env = {
		.syms = syms, .page_size = 4096, .var_known = var_known,
		.arg = p,
	};
	struct cli_diag d;
	uint64_t v;

	if (cli_expr_eval(s, &env, &v, &d))
		perr(p, col + d.col, "%s", d.msg);
}

static bool is_name(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	}
	return true;
}

static void check_known(struct parser *p, const struct name_set *set,
			const char *what, const struct scn_tok *t)
{
	struct cli_suggest sg;
	char hint[160];

	if (set_has(set, t->s))
		return;
	cli_suggest_init(&sg, t->s);
	set_suggest(set, &sg);
	perr(p, t->col, "no %s named '%s' here%s", what, t->s,
	     cli_suggest_text(&sg, hint, sizeof(hint)));
}

static const char *const backings[] = { "4k", "thp", "hugetlb2m",
					"hugetlb1g" };
static const char *const contig_algos[] = { "per-page", "block", "runs" };
static const char *const machine_flags[] = { "threaded", "v8",
					     "index_quirk" };
static const char *const machine_keys[] = { "mem", "page", "frag", "seed",
					    "contig", "memlock" };
static const char *const show_what[] = { "objects", "refs", "areas", "pins",
					 "vars", "queue" };

static int word_index(const char *const *v, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i], w))
			return (int)i;
	}
	return -1;
}

static void unknown_word(struct parser *p, unsigned col, const char *what,
			 const char *w, const char *const *v, size_t n)
{
	struct cli_suggest sg;
	char hint[160];

	cli_suggest_init(&sg, w);
	for (size_t i = 0; i < n; i++)
		cli_suggest_add(&sg, v[i]);
	perr(p, col, "unknown %s '%s'%s", what, w,
	     cli_suggest_text(&sg, hint, sizeof(hint)));
}

static void check_machine(struct parser *p, struct scn_stmt *st)
{
	for (unsigned i = 0; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];
		unsigned vcol = t->col + (unsigned)strlen(t->s) + 1;

		if (!t->val) {
			if (word_index(machine_flags, ARRAY_SIZE(machine_flags),
				       t->s) < 0)
				unknown_word(p, t->col, "machine option", t->s,
					     machine_flags,
					     ARRAY_SIZE(machine_flags));
			continue;
		}
		switch (word_index(machine_keys, ARRAY_SIZE(machine_keys),
				   t->s)) {
		case 0: /* mem */
		case 3: /* seed */
		case 5: /* memlock */
			check_value(p, t->val, vcol, NULL);
			break;
		case 1: { /* page */
			static const char *const pages[] = { "4K", "16K", "64K",
							     "4096", "16384",
							     "65536" };

			if (word_index(pages, ARRAY_SIZE(pages), t->val) < 0)
				perr(p, vcol, "page size must be 4K, 16K or 64K, not '%s'",
				     t->val);
			break;
		}
		case 2: { /* frag */
			char *end;
			double f = strtod(t->val, &end);

			if (*end || end == t->val || f < 0.0 || f > 1.0)
				perr(p, vcol, "frag must be a number from 0 to 1, not '%s'",
				     t->val);
			break;
		}
		case 4: /* contig */
			if (word_index(contig_algos, ARRAY_SIZE(contig_algos),
				       t->val) < 0)
				unknown_word(p, vcol, "contiguity check", t->val,
					     contig_algos,
					     ARRAY_SIZE(contig_algos));
			break;
		default:
			unknown_word(p, t->col, "machine key", t->s,
				     machine_keys, ARRAY_SIZE(machine_keys));
		}
	}
	set_clear(&p->fds);
	set_clear(&p->devices);
	set_clear(&p->iommus);
}

static void check_ioctl(struct parser *p, struct scn_stmt *st)
{
	struct scn_tok *name = &st->tok[1];
	struct cli_suggest sg;
	char hint[160];

	check_known(p, &p->fds, "FD", &st->tok[0]);
	st->ioc = cli_ioctl_find(name->s);
	if (!st->ioc) {
		cli_suggest_init(&sg, name->s);
		cli_ioctl_suggest(&sg);
		perr(p, name->col, "unknown ioctl '%s'%s", name->s,
		     cli_suggest_text(&sg, hint, sizeof(hint)));
		return;
	}
	for (unsigned i = 2; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];

		t->field = cli_field_find(st->ioc, t->s);
		if (!t->field) {
			cli_suggest_init(&sg, t->s);
			cli_field_suggest(st->ioc, &sg);
			perr(p, t->col, "%s has no field '%s'%s", st->ioc->name,
			     t->s, cli_suggest_text(&sg, hint, sizeof(hint)));
			continue;
		}
		check_value(p, t->val, t->col + (unsigned)strlen(t->s) + 1,
			    t->field->syms);
	}
	/* A bare `-> VAR` needs a default out field: see resolve_outs(). */
}

/*
 * `cmdqv FD SUB ...` and `amd FD SUB ...`: the subcommand, its positional
 * arguments (values, an opcode, a word, a device) and the key=value
 * fields its opcode has.
 */
static void check_vendor(struct parser *p, struct scn_stmt *st)
{
	const struct cli_vsub *d;
	const char *op = NULL;
	struct cli_suggest sg;
	char hint[160];
	unsigned n = 0;

	check_known(p, &p->fds, "FD", &st->tok[0]);
	if (st->tok[1].val) {
		for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
			if (verbs[i].verb == st->verb)
				perr(p, st->tok[1].col, "expected a subcommand; expected: %s",
				     verbs[i].usage);
		}
		return;
	}
	d = cli_vsub_find(st->verb, st->tok[1].s);
	if (!d) {
		cli_suggest_init(&sg, st->tok[1].s);
		cli_vsub_suggest(st->verb, &sg);
		perr(p, st->tok[1].col, "unknown %s subcommand '%s'%s",
		     scn_verb_name(st->verb), st->tok[1].s,
		     cli_suggest_text(&sg, hint, sizeof(hint)));
		return;
	}
	for (unsigned i = 2; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];
		char kind;

		if (t->val)
			continue;
		kind = n < strlen(d->args) ? d->args[n] : 0;
		n++;
		switch (kind) {
		case 'v':
			check_value(p, t->s, t->col, d->syms);
			break;
		case 'o':
			op = t->s;
			if (cli_vendor_op_valid(st->verb, t->s))
				break;
			cli_suggest_init(&sg, t->s);
			cli_vendor_op_suggest(st->verb, &sg);
			perr(p, t->col, "unknown %s '%s'%s",
			     st->verb == V_CMDQV ? "SMMUv3 command" : "AMD command",
			     t->s, cli_suggest_text(&sg, hint, sizeof(hint)));
			break;
		case 'w': {
			size_t nw = 0;

			while (d->words[nw])
				nw++;
			if (word_index(d->words, nw, t->s) < 0)
				unknown_word(p, t->col, d->word_what, t->s,
					     d->words, nw);
			break;
		}
		case 'd':
			check_known(p, &p->devices, "device", t);
			break;
		default:
			perr(p, t->col, "too many arguments; expected: %s",
			     d->usage);
		}
	}
	if (n < strlen(d->args))
		perr(p, (unsigned)strlen(st->src) + 2,
		     "missing arguments; expected: %s", d->usage);
	for (unsigned i = 2; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];

		if (!t->val)
			continue;
		if (!cli_vendor_key_valid(st->verb, op, t->s)) {
			cli_suggest_init(&sg, t->s);
			cli_vendor_key_suggest(st->verb, op, &sg);
			if (op)
				perr(p, t->col, "%s has no field '%s'%s", op, t->s,
				     cli_suggest_text(&sg, hint, sizeof(hint)));
			else
				perr(p, t->col, "%s %s takes no '%s='%s; expected: %s",
				     scn_verb_name(st->verb), d->name, t->s,
				     cli_suggest_text(&sg, hint, sizeof(hint)),
				     d->usage);
			continue;
		}
		check_value(p, t->val, t->col + (unsigned)strlen(t->s) + 1, NULL);
	}
	if (st->nouts && !d->result)
		perr(p, st->outs[0].col, "%s %s does not set a variable ('->')",
		     scn_verb_name(st->verb), d->name);
}

/* Positional arguments from @from on are values. */
static void check_positional_values(struct parser *p, struct scn_stmt *st,
				    unsigned from)
{
	for (unsigned i = from; i < st->ntok; i++)
		check_value(p, st->tok[i].s, st->tok[i].col, NULL);
}

static void check_stmt(struct parser *p, struct scn_stmt *st)
{
	struct scn_tok *t = st->tok;

	switch (st->verb) {
	case V_MACHINE:
		check_machine(p, st);
		break;
	case V_IOMMU:
		if (!is_name(t[0].s))
			perr(p, t[0].col, "'%s' is not a name", t[0].s);
		set_add(&p->iommus, t[0].s);
		break;
	case V_DEVICE:
		if (!is_name(t[0].s))
			perr(p, t[0].col, "'%s' is not a name", t[0].s);
		if (st->ntok > 1 && strcmp(t[1].s, "default") &&
		    (strcmp(t[1].s, "mock") || set_has(&p->iommus, "mock")))
			check_known(p, &p->iommus, "IOMMU", &t[1]);
		set_add(&p->devices, t[0].s);
		break;
	case V_MEM:
		if (!is_name(t[0].s) || strchr(t[0].s, '-'))
			perr(p, t[0].col, "'%s' is not a variable name", t[0].s);
		check_value(p, t[1].s, t[1].col, NULL);
		for (unsigned i = 2; i < st->ntok; i++) {
			unsigned vcol = t[i].col + (unsigned)strlen(t[i].s) + 1;

			if (strcmp(t[i].s, "backing"))
				perr(p, t[i].col, "mem takes only backing=..., not '%s'",
				     t[i].s);
			else if (word_index(backings, ARRAY_SIZE(backings),
					    t[i].val) < 0)
				unknown_word(p, vcol, "backing", t[i].val,
					     backings, ARRAY_SIZE(backings));
		}
		break;
	case V_OPEN:
		if (!is_name(t[0].s) && !isdigit((unsigned char)t[0].s[0]))
			perr(p, t[0].col, "'%s' is not an FD name", t[0].s);
		set_add(&p->fds, t[0].s);
		break;
	case V_CLOSE:
		check_known(p, &p->fds, "FD", &t[0]);
		set_del(&p->fds, t[0].s);
		break;
	case V_BIND:
		check_known(p, &p->fds, "FD", &t[0]);
		check_known(p, &p->devices, "device", &t[1]);
		break;
	case V_UNBIND:
	case V_DETACH:
	case V_ATTACH:
	case V_REPLACE:
	case V_MMAP:
	case V_MUNMAP:
		check_known(p, &p->fds, "FD", &t[0]);
		check_positional_values(p, st, 1);
		break;
	case V_IOCTL:
		check_ioctl(p, st);
		break;
	case V_RUN:
	case V_FAIL_NTH:
		check_positional_values(p, st, 0);
		break;
	case V_SHOW: {
		int w = word_index(show_what, ARRAY_SIZE(show_what), t[0].s);

		if (w < 0) {
			unknown_word(p, t[0].col, "thing to show", t[0].s,
				     show_what, ARRAY_SIZE(show_what));
		} else if (w == 2) {
			if (st->ntok < 2)
				perr(p, t[0].col + 6, "show areas needs the IOAS ID");
			else
				check_value(p, t[1].s, t[1].col, NULL);
			if (st->ntok > 2)
				check_known(p, &p->fds, "FD", &t[2]);
		} else if (w == 5) {
			if (st->ntok != 3) {
				perr(p, t[0].col, "expected: show queue FD HWQ");
			} else {
				check_known(p, &p->fds, "FD", &t[1]);
				check_value(p, t[2].s, t[2].col, NULL);
			}
		} else if (w <= 1) {
			if (st->ntok > 2)
				perr(p, t[2].col, "show %s takes at most an FD",
				     t[0].s);
			else if (st->ntok == 2)
				check_known(p, &p->fds, "FD", &t[1]);
		} else if (st->ntok > 1) {
			perr(p, t[1].col, "show %s takes no arguments", t[0].s);
		}
		break;
	}
	case V_DOT:
		if (st->ntok > 1)
			check_known(p, &p->fds, "FD", &t[1]);
		break;
	case V_SET:
		if (!is_name(t[0].s) || strchr(t[0].s, '-'))
			perr(p, t[0].col, "'%s' is not a variable name", t[0].s);
		check_value(p, t[1].s, t[1].col, NULL);
		set_add(&p->vars, t[0].s);
		break;
	case V_EXPECT:
		check_value(p, t[0].s, t[0].col, NULL);
		if (st->ntok == 3)
			check_value(p, t[2].s, t[2].col, NULL);
		break;
	case V_POKE:
	case V_PEEK:
		for (unsigned i = 0; i < st->ntok; i++) {
			if (!t[i].val) {
				check_value(p, t[i].s, t[i].col, NULL);
			} else if (strcmp(t[i].s, "size") ||
				   (strcmp(t[i].val, "1") && strcmp(t[i].val, "2") &&
				    strcmp(t[i].val, "4") && strcmp(t[i].val, "8"))) {
				perr(p, t[i].col, "expected size=1, 2, 4 or 8");
			}
		}
		break;
	case V_CMDQV:
	case V_AMD:
		check_vendor(p, st);
		break;
	case V_PAGE_REQUEST:
		for (unsigned i = 0; i < 3; i++) {
			if (t[i].val)
				perr(p, t[i].col, "expected DEVICE ADDRESS GROUP before pasid= and flags=; expected: %s",
				     "page_request DEVICE ADDRESS GROUP [pasid=N] [flags=...]");
		}
		check_known(p, &p->devices, "device", &t[0]);
		check_value(p, t[1].s, t[1].col, NULL);
		check_value(p, t[2].s, t[2].col, NULL);
		for (unsigned i = 3; i < st->ntok; i++) {
			unsigned vcol = t[i].col + (unsigned)strlen(t[i].s) + 1;

			if (!strcmp(t[i].s, "flags"))
				check_value(p, t[i].val, vcol, cli_prq_syms);
			else if (!strcmp(t[i].s, "pasid"))
				check_value(p, t[i].val, vcol, NULL);
			else
				perr(p, t[i].col, "page_request takes pasid= and flags=, not '%s'",
				     t[i].s);
		}
		break;
	case V_DMA:
		check_known(p, &p->devices, "device", &t[0]);
		if (strcmp(t[1].s, "read") && strcmp(t[1].s, "write"))
			perr(p, t[1].col, "expected read or write, not '%s'",
			     t[1].s);
		check_positional_values(p, st, 2);
		break;
	case V_CHECK:
	case V_SAY:
		break;
	}
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
		perr(p, col, "expected a variable name after '->'");
		return;
	}
	if (st->nouts == SCN_MAX_OUTS) {
		perr(p, col, "at most %d '->' clauses per line", SCN_MAX_OUTS);
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
	if (!is_name(w) || strchr(w, '-'))
		perr(p, col, "'%s' is not a variable name", w);
}

static void parse_expect(struct parser *p, struct scn_stmt *st, char *w,
			 unsigned col)
{
	struct cli_suggest sg;
	char hint[160];

	st->has_expect = true;
	st->expect_col = col;
	if (!w) {
		perr(p, col, "expected an errno name after '=>'");
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
	perr(p, col, "unknown errno '%s'%s", w,
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
				perr(p, o->col, "%s has no default out field: write -> %s=FIELD",
				     st->ioc->name, o->var);
			continue;
		}
		if (st->verb != V_IOCTL) {
			perr(p, o->col, "only ioctl lines bind a named field (-> VAR=field)");
			continue;
		}
		if (!st->ioc)
			continue;
		o->field = cli_field_find(st->ioc, fields[i]);
		if (!o->field) {
			cli_suggest_init(&sg, fields[i]);
			cli_field_suggest(st->ioc, &sg);
			perr(p, o->col, "%s has no field '%s'%s", st->ioc->name,
			     fields[i], cli_suggest_text(&sg, hint, sizeof(hint)));
		}
	}
}

static const struct verb_desc *find_verb(struct parser *p, const char *w,
					 unsigned col)
{
	struct cli_suggest sg;
	char hint[160];

	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (!strcmp(verbs[i].name, w))
			return &verbs[i];
	}
	cli_suggest_init(&sg, w);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		cli_suggest_add(&sg, verbs[i].name);
	perr(p, col, "unknown verb '%s'%s", w,
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
		perr(p, col + (unsigned)a, "expected a value; expected: %s",
		     "expect VALUE [==|!=|<|<=|>|>= VALUE]");
	else if (oplen && !rest[b])
		perr(p, col + (unsigned)b, "expected a value after '%.*s'",
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
				perr(p, col, "%s does not set a variable ('->')",
				     vd->name);
			parse_out(p, st, v, vcol, &out_fields[st->nouts]);
			continue;
		}
		if (!strcmp(w, "=>")) {
			char *v = next_word(&cur);

			if (!vd->expect)
				perr(p, col, "%s cannot fail with an errno ('=>')",
				     vd->name);
			if (st->has_expect)
				perr(p, col, "only one '=>' per line");
			parse_expect(p, st, v, v ? (unsigned)(v - buf) + 1 : col + 2);
			continue;
		}
		if (st->has_expect) {
			perr(p, col, "unexpected '%s' after '=> ERRNO'", w);
			continue;
		}
		if (st->nouts) {
			perr(p, col, "unexpected '%s' after '-> VAR'", w);
			continue;
		}
		if (!add_tok(st, w, col, vd->kv)->val) {
			if (npos >= vd->max)
				perr(p, col, "too many arguments; expected: %s",
				     vd->usage);
			npos++;
		} else if (vd->verb == V_IOCTL && npos < 2) {
			perr(p, col, "expected the FD and the ioctl name before fields; expected: %s",
			     vd->usage);
		}
	}
	if (npos < vd->min && !p->line_failed)
		perr(p, (unsigned)strlen(st->src) + 2,
		     "missing arguments; expected: %s", vd->usage);
	if (vd->verb == V_IOCTL) {
		for (unsigned i = 2; i < st->ntok; i++) {
			if (!st->tok[i].val)
				perr(p, st->tok[i].col, "expected field=VALUE, not '%s'",
				     st->tok[i].s);
		}
	}
check:
	if (!p->line_failed)
		check_stmt(p, st);
	resolve_outs(p, st, out_fields);
	for (unsigned i = 0; i < st->nouts; i++)
		set_add(&p->vars, st->outs[i].var);
	if (st->verb == V_MEM && st->ntok)
		set_add(&p->vars, st->tok[0].s);
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
	set_free(&p.vars);
	set_free(&p.fds);
	set_free(&p.devices);
	set_free(&p.iommus);
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
