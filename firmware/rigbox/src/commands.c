#include "commands.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "clock.h"
#include "event_word.h"
#include "eye.h"
#include "photodiode.h"
#include "protocol.h"
#include "text.h"
#include "valve.h"

#define MAX_WORDS 10
#define STR_(x) #x
#define STR(x) STR_(x)

static uint16_t stream_ms;
static char *words[MAX_WORDS];
static uint8_t count;
static line_t echo;  // the command as received, words joined by one space
#define out text_out

uint16_t commands_stream_ms(void) { return stream_ms; }

static void split(char *line) {
  count = 0;
  char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\r') *p++ = '\0';
    if (!*p) return;
    if (count == MAX_WORDS) {
      count = MAX_WORDS + 1;  // too many: the command is refused
      return;
    }
    words[count++] = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
  }
}

static void refuse(const char *why_P) {
  text_start(&out, PSTR("ERR "));
  for (uint8_t i = 0; i < echo.n; i++) text_char(&out, echo.s[i]);
  text_char(&out, ':');
  text_word_P(&out, why_P);
  text_send(&out, 1);
}

static void acknowledge(void) {
  text_start(&out, PSTR("ACK "));
  for (uint8_t i = 0; i < echo.n; i++) text_char(&out, echo.s[i]);
  text_send(&out, 1);
}

/** A whole number 0..max with digits only (one 32-bit division per call, not per digit: they are slow here). */
static uint8_t whole(const char *s, uint32_t max, uint32_t *v) {
  if (!*s || strlen(s) > 10) return 0;
  uint32_t limit = max / 10;
  uint8_t last = (uint8_t)(max - limit * 10);
  uint32_t n = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    uint8_t d = (uint8_t)(*s - '0');
    if (n > limit || (n == limit && d > last)) return 0;
    n = n * 10 + d;
  }
  *v = n;
  return 1;
}

static uint8_t number(const char *s, float *v) {
  char *end;
  double d = strtod(s, &end);
  if (end == s || *end || !isfinite(d)) return 0;
  *v = (float)d;
  return 1;
}

static uint8_t numbers(uint8_t first, uint8_t n, float *v) {
  for (uint8_t i = 0; i < n; i++)
    if (!number(words[first + i], &v[i])) return 0;
  return 1;
}

static void evt(void) {
  uint32_t code;
  if (count != 2 || !whole(words[1], 65535, &code)) return refuse(PSTR("expected EVT <code 0..65535>"));
  if (!event_word_queue((uint16_t)code)) refuse(PSTR("event queue full"));
}

static void reward(void) {
  uint32_t ms;
  if (count != 2 || !whole(words[1], REWARD_MAX_MS, &ms))
    return refuse(PSTR("expected REWARD <ms 0.." STR(REWARD_MAX_MS) ">"));
  uint32_t now = clock_ms();
  valve_open((uint16_t)ms);
  text_start(&out, PSTR("ACK "));
  for (uint8_t i = 0; i < echo.n; i++) text_char(&out, echo.s[i]);
  text_at(&out, now);
  text_send(&out, 1);
}

void commands_event_sent(uint16_t code, uint32_t ms) {
  text_start(&out, PSTR("ACK EVT"));
  text_u32(&out, code);
  text_at(&out, ms);
  text_send(&out, 1);
}

static void ping(void) {
  const char *n = count == 2 ? words[1] : "";
  uint32_t ignored;
  if (count != 2 || !whole(*n == '-' ? n + 1 : n, 0xFFFFFFFFu, &ignored))
    return refuse(PSTR("expected PING <n>"));
  text_start(&out, PSTR("PONG"));
  text_word(&out, n);
  text_u32(&out, clock_ms());
  text_send(&out, 1);
}

static void cal(void) {
  float c[6];
  if (count != 7 || !numbers(1, 6, c))
    return refuse(PSTR("expected CAL <ax> <bx> <cx> <ay> <by> <cy>: x = ax u + bx v + cx (u, v in volts, x in deg)"));
  if (!eye_set_map(c)) return refuse(PSTR("expected gains within 400 deg/V and offsets within 1000 deg"));
  acknowledge();
}

static void win(void) {
  float v[3];
  uint32_t hold = 1;
  if ((count != 4 && count != 5) || !numbers(1, 3, v) || v[2] <= 0.0f || v[2] > 300.0f ||
      v[0] > 1000.0f || v[0] < -1000.0f || v[1] > 1000.0f || v[1] < -1000.0f ||
      (count == 5 && (!whole(words[4], 255, &hold) || hold == 0)))
    return refuse(PSTR("expected WIN <centre x deg> <centre y deg> <radius 0..300 deg> [<samples 1..255>]"));
  eye_set_window(v[0], v[1], v[2], (uint8_t)hold);
  acknowledge();
}

static void stream(void) {
  uint32_t ms;
  if (count != 2 || !whole(words[1], STREAM_MAX_MS, &ms) || (ms != 0 && ms < STREAM_MIN_MS))
    return refuse(PSTR("expected STREAM <0 (off) or " STR(STREAM_MIN_MS) ".." STR(STREAM_MAX_MS) " ms>"));
  stream_ms = (uint16_t)ms;
  acknowledge();
}

static void pdthr(void) {
  uint32_t on, off;
  if (count != 3 || !whole(words[1], 5000, &on) || !whole(words[2], 5000, &off) || on <= off)
    return refuse(PSTR("expected PDTHR <on mV 0..5000> <off mV below on>"));
  photodiode_set((uint16_t)on, (uint16_t)off);
  acknowledge();
}

void commands_hello(void) {
  text_start(&out, PSTR("HELLO"));
  text_u32(&out, PROTOCOL_VERSION);
  text_word_P(&out, PSTR(FIRMWARE_NAME));
  text_word_P(&out, PSTR(BOARD_NAME));
  text_u32(&out, SAMPLE_HZ);
  text_send(&out, 1);
}

void commands_state(void) {
  uint32_t now = clock_ms();
  int8_t fix = eye_fixation();
  if (fix >= 0) {
    text_start(&out, PSTR("FIX"));
    text_u32(&out, (uint8_t)fix);
    text_u32(&out, now);
    text_send(&out, 1);
  }
  int8_t pd = photodiode_state();
  if (pd >= 0) {
    text_start(&out, PSTR("PD"));
    text_u32(&out, (uint8_t)pd);
    text_u32(&out, now);
    text_send(&out, 1);
  }
}

void commands_handle(char *line) {
  split(line);
  if (count == 0) return;
  echo.n = 0;
  for (uint8_t i = 0; i < count && i < MAX_WORDS; i++) {
    if (i) text_char(&echo, ' ');
    for (const char *p = words[i]; *p; p++) text_char(&echo, *p);
  }
  if (count > MAX_WORDS) return refuse(PSTR("too many words"));
  const char *w = words[0];
  if (!strcmp_P(w, PSTR("EVT"))) evt();
  else if (!strcmp_P(w, PSTR("REWARD"))) reward();
  else if (!strcmp_P(w, PSTR("PING"))) ping();
  else if (!strcmp_P(w, PSTR("HELLO")) && count == 1) {
    commands_hello();
    commands_state();  // a host that asks is (re)connecting: tell it the states now, not at the next change
  }
  else if (!strcmp_P(w, PSTR("CAL"))) cal();
  else if (!strcmp_P(w, PSTR("WIN"))) win();
  else if (!strcmp_P(w, PSTR("STREAM"))) stream();
  else if (!strcmp_P(w, PSTR("PDTHR"))) pdthr();
  else refuse(PSTR("expected one of HELLO, EVT, REWARD, PING, CAL, WIN, STREAM, PDTHR"));
}
