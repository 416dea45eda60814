#include "text.h"

#include <avr/interrupt.h>
#include <avr/sleep.h>

#include <stdlib.h>
#include <string.h>

#include "uart.h"

void text_char(line_t *l, char c) {
  if (l->n < LINE_MAX - 1) l->s[l->n++] = c;
}

static void append(line_t *l, const char *s) {
  while (*s) text_char(l, *s++);
}

line_t text_out;

static void append_P(line_t *l, const char *s) {
  for (char c; (c = (char)pgm_read_byte(s)) != 0; s++) text_char(l, c);
}

void text_start(line_t *l, const char *word) {
  l->n = 0;
  append_P(l, word);
}

void text_word_P(line_t *l, const char *s) {
  text_char(l, ' ');
  append_P(l, s);
}

void text_word(line_t *l, const char *s) {
  text_char(l, ' ');
  append(l, s);
}

// avr-libc's ultoa divides by 10 in a few dozen cycles; a plain v % 10, v / 10 loop calls the general 32-bit
// division (~600 cycles a digit), which made an EYE line cost a millisecond of CPU.
static void digits(line_t *l, uint32_t v, uint8_t min_digits) {
  char buf[11];
  ultoa(v, buf, 10);
  for (uint8_t n = (uint8_t)strlen(buf); n < min_digits; n++) text_char(l, '0');
  for (const char *p = buf; *p; p++) text_char(l, *p);
}

void text_u32(line_t *l, uint32_t v) {
  text_char(l, ' ');
  digits(l, v, 1);
}

void text_i32(line_t *l, int32_t v) {
  text_char(l, ' ');
  if (v < 0) text_char(l, '-');
  digits(l, v < 0 ? (uint32_t)(-(v + 1)) + 1u : (uint32_t)v, 1);
}

void text_at(line_t *l, uint32_t ms) {
  text_char(l, ' ');
  text_char(l, '@');
  digits(l, ms, 1);
}

void text_centideg(line_t *l, int32_t centi) {
  if (centi > 99999) centi = 99999;
  if (centi < -99999) centi = -99999;
  text_char(l, ' ');
  if (centi < 0) {
    text_char(l, '-');
    centi = -centi;
  }
  // The digits of the centidegrees with a point before the last two (no division by 100).
  char buf[8];
  ultoa((uint32_t)centi, buf, 10);
  uint8_t n = (uint8_t)strlen(buf);
  if (n < 3) {
    text_char(l, '0');
    text_char(l, '.');
    if (n < 2) text_char(l, '0');
    for (const char *p = buf; *p; p++) text_char(l, *p);
    return;
  }
  for (uint8_t i = 0; i < n; i++) {
    if (i == n - 2) text_char(l, '.');
    text_char(l, buf[i]);
  }
}

uint8_t text_send(line_t *l, uint8_t must) {
  l->s[l->n++] = '\n';
  while (!uart_send(l->s, l->n)) {
    if (!must) return 0;
    // Wait for the transmit interrupt to make room; any interrupt wakes the CPU.
    cli();
    sleep_enable();
    sei();
    sleep_cpu();
    sleep_disable();
  }
  return 1;
}
