/*
 * Exercises the C API from C, for valgrind: callbacks with userdata, fed packets, the poll
 * queue with a too-small buffer, snapshots and summaries, the vault, and every error path
 * a C caller can hit (NULL arguments, a bad configuration, a missing file, a wrong
 * passphrase, an unknown interface). Prints "ok" and exits 0 when every check holds.
 *
 * Usage: api_test CAPTURE_WITH_CREDENTIALS SCRATCH_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsentinel.h"

static int failures = 0;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      char message[512];                                                    \
      ns_last_error(message, sizeof message);                               \
      fprintf(stderr, "%s:%d: %s failed (last error: %s)\n", __FILE__,      \
              __LINE__, #cond, message);                                    \
      failures++;                                                           \
    }                                                                       \
  } while (0)

struct counts {
  int alerts;
  int incidents;
  size_t bytes;
};

static void on_alert(void *userdata, const char *json, size_t len) {
  struct counts *c = userdata;
  c->alerts++;
  c->bytes += len;
  if (strlen(json) != len || json[0] != '{') failures++;
}

static void on_incident(void *userdata, const char *json, size_t len) {
  struct counts *c = userdata;
  c->incidents++;
  c->bytes += len;
  if (strlen(json) != len || strstr(json, "\"type\":\"incident\"") == NULL) failures++;
}

/* An Ethernet/IPv4/TCP SYN from 10.7.0.66 to 10.7.0.10:port. */
static size_t syn(uint8_t *frame, uint16_t port) {
  static const uint8_t head[] = {
      0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,           /* ethernet */
      0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 7, 0, 66, 10, 7, 0, 10,  /* ipv4 */
      0x9c, 0x40, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x04, 0, 0, 0, 0, 0 /* tcp */
  };
  memcpy(frame, head, sizeof head);
  frame[36] = (uint8_t)(port >> 8);
  frame[37] = (uint8_t)port;
  return sizeof head;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CAPTURE SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  char path[4096];
  NsEngine *engine = NULL;
  char *json = NULL;

  /* Error paths. */
  CHECK(ns_abi_version() == 3);
  CHECK(strncmp(ns_version(), "netsentinel-ffi/", 16) == 0);
  CHECK(ns_engine_new(NULL, &engine) == NS_RESULT_NULL_ARGUMENT);
  CHECK(ns_engine_new("{\"flow\": {\"max_flow\": 1}}", &engine) == NS_RESULT_CONFIG);
  CHECK(ns_last_error(NULL, 0) > 0);
  CHECK(engine == NULL);
  CHECK(ns_engine_new("not json", &engine) == NS_RESULT_CONFIG);
  CHECK(ns_engine_feed(NULL, 0, 1, NULL, 0) == NS_RESULT_NULL_ARGUMENT);
  CHECK(strlen(ns_result_str(NS_RESULT_POISONED)) > 0);
  ns_engine_free(NULL);
  ns_vault_free(NULL);
  ns_string_free(NULL);

  /* Callbacks on fed packets: a port scan. */
  struct counts counts = {0, 0, 0};
  CHECK(ns_engine_new("{}", &engine) == NS_RESULT_OK);
  CHECK(ns_engine_set_alert_callback(engine, on_alert, &counts) == NS_RESULT_OK);
  CHECK(ns_engine_set_incident_callback(engine, on_incident, &counts) == NS_RESULT_OK);
  CHECK(ns_engine_summary_json(engine, &json) == NS_RESULT_EMPTY);
  uint8_t frame[64];
  for (uint16_t port = 1; port <= 300; port++) {
    size_t len = syn(frame, port);
    CHECK(ns_engine_feed(engine, 1700000000000000LL + port * 1000, 1, frame, len) == NS_RESULT_OK);
  }
  CHECK(ns_engine_finish(engine) == NS_RESULT_OK);
  CHECK(counts.alerts >= 1);
  CHECK(counts.incidents >= 1);
  size_t written = 99;
  char buf[64];
  CHECK(ns_engine_poll(engine, buf, sizeof buf, &written) == NS_RESULT_OK);
  CHECK(written == 0); /* everything went to the callbacks */
  CHECK(ns_engine_summary_json(engine, &json) == NS_RESULT_OK);
  CHECK(strstr(json, "\"packets\":300") != NULL);
  ns_string_free(json);
  json = NULL;
  CHECK(ns_engine_stop_live(engine) == NS_RESULT_NOT_RUNNING);
  NsResult live = ns_engine_start_live(engine, "no-such-interface0");
  CHECK(live == NS_RESULT_UNSUPPORTED || live == NS_RESULT_SOURCE);
  snprintf(path, sizeof path, "%s/scan.pcap", argv[2]);
  CHECK(ns_engine_save_last(engine, 60, path) == NS_RESULT_OK);
  ns_engine_free(engine);

  /* The queue: a buffer too small keeps the record and says what it needs. */
  CHECK(ns_engine_new("{}", &engine) == NS_RESULT_OK);
  CHECK(ns_engine_analyze_file(engine, "/nonexistent/capture.pcap") == NS_RESULT_SOURCE);
  CHECK(ns_engine_analyze_file(engine, argv[1]) == NS_RESULT_OK);
  CHECK(ns_engine_poll(engine, buf, 8, &written) == NS_RESULT_BUFFER_TOO_SMALL);
  CHECK(written > 8);
  char *big = malloc(written);
  size_t got = 0;
  CHECK(ns_engine_poll(engine, big, written, &got) == NS_RESULT_OK);
  CHECK(got > 0 && got == strlen(big) && big[got - 1] == '\n');
  free(big);
  uint64_t dropped = 99;
  CHECK(ns_engine_dropped(engine, &dropped) == NS_RESULT_OK && dropped == 0);
  CHECK(ns_engine_snapshot_json(engine, &json) == NS_RESULT_OK);
  CHECK(strstr(json, "\"devices\"") != NULL);
  ns_string_free(json);
  json = NULL;

  /* The vault: what the engine found, and the failures told apart. */
  snprintf(path, sizeof path, "%s/creds.vault", argv[2]);
  remove(path);
  NsVault *vault = NULL;
  CHECK(ns_vault_create(path, "", &vault) == NS_RESULT_INVALID_ARGUMENT);
  CHECK(ns_vault_create(path, "correct horse", &vault) == NS_RESULT_OK);
  size_t added = 0;
  CHECK(ns_vault_add_credentials(vault, engine, &added) == NS_RESULT_OK);
  CHECK(added >= 1);
  CHECK(ns_vault_add_credentials(vault, NULL, &added) == NS_RESULT_NULL_ARGUMENT);
  ns_vault_free(vault);
  vault = NULL;
  ns_engine_free(engine);
  CHECK(ns_vault_create(path, "correct horse", &vault) == NS_RESULT_ALREADY_EXISTS);
  CHECK(ns_vault_open(path, "wrong", &vault) == NS_RESULT_WRONG_PASSPHRASE);
  CHECK(vault == NULL);
  CHECK(ns_vault_open(path, "correct horse", &vault) == NS_RESULT_OK);
  CHECK(ns_vault_records_json(vault, &json) == NS_RESULT_OK);
  CHECK(json != NULL && json[0] == '[' && strstr(json, "\"secret\"") != NULL);
  ns_string_free(json);
  ns_vault_free(vault);

  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  puts("ok");
  return 0;
}
