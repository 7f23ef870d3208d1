/*
 * Analyses a capture through the NetSentinel C API and prints every alert and incident
 * record as a JSON line; with a second argument, saves the last 60 seconds of packets
 * there. Build: gcc analyze.c -I../../include -L<target>/debug -lnetsentinel_ffi
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsentinel.h"

static int fail(const char *what, NsResult r) {
  char message[512];
  ns_last_error(message, sizeof message);
  fprintf(stderr, "%s: %s (%s)\n", what, ns_result_str(r), message);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CAPTURE [SAVE.pcap]\n", argv[0]);
    return 2;
  }
  NsEngine *engine = NULL;
  NsResult r = ns_engine_new("{}", &engine);
  if (r != NS_RESULT_OK) return fail("ns_engine_new", r);
  r = ns_engine_analyze_file(engine, argv[1]);
  if (r != NS_RESULT_OK) {
    ns_engine_free(engine);
    return fail("ns_engine_analyze_file", r);
  }
  size_t size = 256; /* small on purpose: grows when a record does not fit */
  char *buf = malloc(size);
  for (;;) {
    size_t written = 0;
    r = ns_engine_poll(engine, buf, size, &written);
    if (r == NS_RESULT_BUFFER_TOO_SMALL) {
      size = written;
      buf = realloc(buf, size);
      continue;
    }
    if (r != NS_RESULT_OK) break;
    if (written == 0) break;
    fputs(buf, stdout);
  }
  free(buf);
  char *snapshot = NULL;
  if (r == NS_RESULT_OK) r = ns_engine_snapshot_json(engine, &snapshot);
  if (r == NS_RESULT_OK) fprintf(stderr, "snapshot: %zu bytes of JSON\n", strlen(snapshot));
  ns_string_free(snapshot);
  if (r == NS_RESULT_OK && argc > 2) r = ns_engine_save_last(engine, 60, argv[2]);
  ns_engine_free(engine);
  if (r != NS_RESULT_OK) return fail("ns_engine_poll/save", r);
  return 0;
}
