/*
 * `iommufd-sim trace`: writes every trace event of a scenario as it
 * happens, in one of three formats.  text is one line per event; jsonl is
 * one JSON object per line with the key=value arguments as an object
 * (decimal numbers as numbers, everything else as strings); chrome is the
 * Trace Event Format that chrome://tracing and ui.perfetto.dev load, with
 * each ioctl as a slice (ioctl.enter/exit) and every other point as an
 * instant, one process per machine of the scenario and thread IDs
 * renumbered from 1 in order of appearance.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sim/cli/cli.h"

#define MAX_TIDS 64

struct trace_writer {
	FILE *f;
	enum trace_fmt fmt;
	bool first;
	unsigned last_machine;
	unsigned long tids[MAX_TIDS];
	unsigned ntids;
};

bool trace_fmt_parse(const char *name, enum trace_fmt *fmt)
{
	if (!strcmp(name, "text"))
		*fmt = TRACE_TEXT;
	else if (!strcmp(name, "jsonl"))
		*fmt = TRACE_JSONL;
	else if (!strcmp(name, "chrome") || !strcmp(name, "perfetto"))
		*fmt = TRACE_CHROME;
	else
		return false;
	return true;
}

struct trace_writer *trace_writer_open(FILE *f, enum trace_fmt fmt)
{
	struct trace_writer *tw = cli_xrealloc(NULL, sizeof(*tw));

	memset(tw, 0, sizeof(*tw));
	tw->f = f;
	tw->fmt = fmt;
	tw->first = true;
	if (fmt == TRACE_CHROME)
		fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
	return tw;
}

void trace_writer_close(struct trace_writer *tw)
{
	if (!tw)
		return;
	if (tw->fmt == TRACE_CHROME)
		fprintf(tw->f, "\n]}\n");
	fflush(tw->f);
	free(tw);
}

static unsigned small_tid(struct trace_writer *tw, unsigned long tid)
{
	for (unsigned i = 0; i < tw->ntids; i++) {
		if (tw->tids[i] == tid)
			return i + 1;
	}
	if (tw->ntids == MAX_TIDS)
		return MAX_TIDS + 1;
	tw->tids[tw->ntids++] = tid;
	return tw->ntids;
}

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A plain decimal that JSON can carry as a number. */
static bool json_number(const char *v, size_t n)
{
	size_t i = v[0] == '-';

	if (i == n || n - i > 15 || (v[i] == '0' && n - i > 1))
		return false;
	for (; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
	}
	return true;
}

/* The key=value arguments as a JSON object. */
static void json_args(FILE *f, const char *a)
{
	bool first = true;

	fputc('{', f);
	while (*a) {
		const char *k, *v, *end;
		size_t klen;

		while (*a == ' ')
			a++;
		if (!*a)
			break;
		k = a;
		while (*a && *a != '=' && *a != ' ')
			a++;
		if (*a != '=') {	/* a bare word: a flag */
			fprintf(f, "%s", first ? "" : ",");
			json_str(f, k, (size_t)(a - k));
			fprintf(f, ":true");
			first = false;
			continue;
		}
		klen = (size_t)(a - k);
		v = ++a;
		if (*v == '"') {
			v++;
			end = strchr(v, '"');
			if (!end)
				end = v + strlen(v);
			a = *end ? end + 1 : end;
		} else {
			end = v;
			while (*end && *end != ' ')
				end++;
			a = end;
		}
		fprintf(f, "%s", first ? "" : ",");
		json_str(f, k, klen);
		fputc(':', f);
		if (json_number(v, (size_t)(end - v)))
			fprintf(f, "%.*s", (int)(end - v), v);
		else
			json_str(f, v, (size_t)(end - v));
		first = false;
	}
	fputc('}', f);
}

static void chrome_event(struct trace_writer *tw, unsigned machine,
			 const struct isim_trace_event *ev)
{
	FILE *f = tw->f;
	const char *dot = strchr(ev->point, '.');
	char cmd[64];
	const char *name = ev->point, *ph = "i";

	if (machine != tw->last_machine) {
		fprintf(f, "%s\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"args\":{\"name\":\"machine %u\"}}",
			tw->first ? "" : ",", machine, machine);
		tw->first = false;
		tw->last_machine = machine;
	}
	if (!strcmp(ev->point, "ioctl.enter") || !strcmp(ev->point, "ioctl.exit")) {
		ph = strcmp(ev->point, "ioctl.enter") ? "E" : "B";
		if (cli_arg_str(ev->args, "cmd", cmd, sizeof(cmd)))
			name = cmd;
	}
	fprintf(f, "%s\n{\"name\":", tw->first ? "" : ",");
	json_str(f, name, strlen(name));
	fprintf(f, ",\"cat\":");
	json_str(f, ev->point, dot ? (size_t)(dot - ev->point) : strlen(ev->point));
	fprintf(f, ",\"ph\":\"%s\",%s\"ts\":%" PRIu64 ".%03" PRIu64
		   ",\"pid\":%u,\"tid\":%u,\"args\":",
		ph, *ph == 'i' ? "\"s\":\"t\"," : "", ev->ns / 1000, ev->ns % 1000,
		machine, small_tid(tw, ev->tid));
	json_args(f, ev->args);
	fputc('}', f);
	tw->first = false;
}

void trace_writer_event(struct trace_writer *tw, unsigned machine,
			const struct isim_trace_event *ev)
{
	switch (tw->fmt) {
	case TRACE_TEXT:
		fprintf(tw->f, "m%u #%-5" PRIu64 " %10" PRIu64 ".%03" PRIu64 " us  t%-2u %-22s %s\n",
			machine, ev->seq, ev->ns / 1000, ev->ns % 1000,
			small_tid(tw, ev->tid), ev->point, ev->args);
		break;
	case TRACE_JSONL:
		fprintf(tw->f, "{\"machine\":%u,\"seq\":%" PRIu64 ",\"ns\":%" PRIu64
			       ",\"tid\":%u,\"point\":",
			machine, ev->seq, ev->ns, small_tid(tw, ev->tid));
		json_str(tw->f, ev->point, strlen(ev->point));
		fprintf(tw->f, ",\"args\":");
		json_args(tw->f, ev->args);
		fprintf(tw->f, "}\n");
		break;
	case TRACE_CHROME:
		chrome_event(tw, machine, ev);
		break;
	}
}
