/*
 * What a scenario line's arguments say, checked once parse.c has split
 * it: for each verb its keys and words (machine options, backings, show
 * targets, the vendor verbs' subcommands, opcodes and fields), the ioctl
 * and field names, the syntax of every value, and that each $VAR, FD,
 * device and IOMMU name is set by an earlier line (the name sets kept
 * here).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/parse.h"

static bool set_has(const struct name_set *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (!strcmp(s->v[i], name))
			return true;
	}
	return false;
}

void cli_set_add(struct name_set *s, const char *name)
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

void cli_set_free(struct name_set *s)
{
	set_clear(s);
	free(s->v);
}

static void set_suggest(const struct name_set *s, struct cli_suggest *sg)
{
	for (unsigned i = 0; i < s->n; i++)
		cli_suggest_add(sg, s->v[i]);
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
		cli_perr(p, col + d.col, "%s", d.msg);
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
	cli_perr(p, t->col, "no %s named '%s' here%s", what, t->s,
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
	cli_perr(p, col, "unknown %s '%s'%s", what, w,
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
				cli_perr(p, vcol, "page size must be 4K, 16K or 64K, not '%s'",
					 t->val);
			break;
		}
		case 2: { /* frag */
			char *end;
			double f = strtod(t->val, &end);

			if (*end || end == t->val || f < 0.0 || f > 1.0)
				cli_perr(p, vcol, "frag must be a number from 0 to 1, not '%s'",
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
		cli_perr(p, name->col, "unknown ioctl '%s'%s", name->s,
			 cli_suggest_text(&sg, hint, sizeof(hint)));
		return;
	}
	for (unsigned i = 2; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];

		t->field = cli_field_find(st->ioc, t->s);
		if (!t->field) {
			cli_suggest_init(&sg, t->s);
			cli_field_suggest(st->ioc, &sg);
			cli_perr(p, t->col, "%s has no field '%s'%s", st->ioc->name,
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
		for (size_t i = 0; i < cli_nverbs; i++) {
			if (cli_verbs[i].verb == st->verb)
				cli_perr(p, st->tok[1].col, "expected a subcommand; expected: %s",
					 cli_verbs[i].usage);
		}
		return;
	}
	d = cli_vsub_find(st->verb, st->tok[1].s);
	if (!d) {
		cli_suggest_init(&sg, st->tok[1].s);
		cli_vsub_suggest(st->verb, &sg);
		cli_perr(p, st->tok[1].col, "unknown %s subcommand '%s'%s",
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
			cli_perr(p, t->col, "unknown %s '%s'%s",
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
			cli_perr(p, t->col, "too many arguments; expected: %s",
				 d->usage);
		}
	}
	if (n < strlen(d->args))
		cli_perr(p, (unsigned)strlen(st->src) + 2,
			 "missing arguments; expected: %s", d->usage);
	for (unsigned i = 2; i < st->ntok; i++) {
		struct scn_tok *t = &st->tok[i];

		if (!t->val)
			continue;
		if (!cli_vendor_key_valid(st->verb, op, t->s)) {
			cli_suggest_init(&sg, t->s);
			cli_vendor_key_suggest(st->verb, op, &sg);
			if (op)
				cli_perr(p, t->col, "%s has no field '%s'%s", op, t->s,
					 cli_suggest_text(&sg, hint, sizeof(hint)));
			else
				cli_perr(p, t->col, "%s %s takes no '%s='%s; expected: %s",
					 scn_verb_name(st->verb), d->name, t->s,
					 cli_suggest_text(&sg, hint, sizeof(hint)),
					 d->usage);
			continue;
		}
		check_value(p, t->val, t->col + (unsigned)strlen(t->s) + 1, NULL);
	}
	if (st->nouts && !d->result)
		cli_perr(p, st->outs[0].col, "%s %s does not set a variable ('->')",
			 scn_verb_name(st->verb), d->name);
}

/* Positional arguments from @from on are values. */
static void check_positional_values(struct parser *p, struct scn_stmt *st,
				    unsigned from)
{
	for (unsigned i = from; i < st->ntok; i++)
		check_value(p, st->tok[i].s, st->tok[i].col, NULL);
}

void cli_check_stmt(struct parser *p, struct scn_stmt *st)
{
	struct scn_tok *t = st->tok;

	switch (st->verb) {
	case V_MACHINE:
		check_machine(p, st);
		break;
	case V_IOMMU:
		if (!cli_is_name(t[0].s))
			cli_perr(p, t[0].col, "'%s' is not a name", t[0].s);
		cli_set_add(&p->iommus, t[0].s);
		break;
	case V_DEVICE:
		if (!cli_is_name(t[0].s))
			cli_perr(p, t[0].col, "'%s' is not a name", t[0].s);
		if (st->ntok > 1 && strcmp(t[1].s, "default") &&
		    (strcmp(t[1].s, "mock") || set_has(&p->iommus, "mock")))
			check_known(p, &p->iommus, "IOMMU", &t[1]);
		cli_set_add(&p->devices, t[0].s);
		break;
	case V_MEM:
		if (!cli_is_name(t[0].s) || strchr(t[0].s, '-'))
			cli_perr(p, t[0].col, "'%s' is not a variable name", t[0].s);
		check_value(p, t[1].s, t[1].col, NULL);
		for (unsigned i = 2; i < st->ntok; i++) {
			unsigned vcol = t[i].col + (unsigned)strlen(t[i].s) + 1;

			if (strcmp(t[i].s, "backing"))
				cli_perr(p, t[i].col, "mem takes only backing=..., not '%s'",
					 t[i].s);
			else if (word_index(backings, ARRAY_SIZE(backings),
					    t[i].val) < 0)
				unknown_word(p, vcol, "backing", t[i].val,
					     backings, ARRAY_SIZE(backings));
		}
		break;
	case V_OPEN:
		if (!cli_is_name(t[0].s) && !isdigit((unsigned char)t[0].s[0]))
			cli_perr(p, t[0].col, "'%s' is not an FD name", t[0].s);
		cli_set_add(&p->fds, t[0].s);
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
				cli_perr(p, t[0].col + 6, "show areas needs the IOAS ID");
			else
				check_value(p, t[1].s, t[1].col, NULL);
			if (st->ntok > 2)
				check_known(p, &p->fds, "FD", &t[2]);
		} else if (w == 5) {
			if (st->ntok != 3) {
				cli_perr(p, t[0].col, "expected: show queue FD HWQ");
			} else {
				check_known(p, &p->fds, "FD", &t[1]);
				check_value(p, t[2].s, t[2].col, NULL);
			}
		} else if (w <= 1) {
			if (st->ntok > 2)
				cli_perr(p, t[2].col, "show %s takes at most an FD",
					 t[0].s);
			else if (st->ntok == 2)
				check_known(p, &p->fds, "FD", &t[1]);
		} else if (st->ntok > 1) {
			cli_perr(p, t[1].col, "show %s takes no arguments", t[0].s);
		}
		break;
	}
	case V_DOT:
		if (st->ntok > 1)
			check_known(p, &p->fds, "FD", &t[1]);
		break;
	case V_SET:
		if (!cli_is_name(t[0].s) || strchr(t[0].s, '-'))
			cli_perr(p, t[0].col, "'%s' is not a variable name", t[0].s);
		check_value(p, t[1].s, t[1].col, NULL);
		cli_set_add(&p->vars, t[0].s);
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
				cli_perr(p, t[i].col, "expected size=1, 2, 4 or 8");
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
				cli_perr(p, t[i].col, "expected DEVICE ADDRESS GROUP before pasid= and flags=; expected: %s",
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
				cli_perr(p, t[i].col, "page_request takes pasid= and flags=, not '%s'",
					 t[i].s);
		}
		break;
	case V_DMA:
		check_known(p, &p->devices, "device", &t[0]);
		if (strcmp(t[1].s, "read") && strcmp(t[1].s, "write"))
			cli_perr(p, t[1].col, "expected read or write, not '%s'",
				 t[1].s);
		check_positional_values(p, st, 2);
		break;
	case V_CHECK:
	case V_SAY:
		break;
	}
}
