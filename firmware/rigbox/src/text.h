// Building the box's output lines without printf: words, integers and degrees with two decimals.
#ifndef RIGBOX_TEXT_H
#define RIGBOX_TEXT_H

#include <avr/pgmspace.h>
#include <stdint.h>

#define LINE_MAX 144

typedef struct {
  char s[LINE_MAX];
  uint8_t n;
} line_t;

/** The one output line the main loop builds at a time (nothing in an interrupt uses it). */
extern line_t text_out;

/** Starts a line with a word in flash (PSTR). */
void text_start(line_t *l, const char *word_P);
void text_char(line_t *l, char c);
/** Appends a space, then the string (text_word_P: a string in flash). */
void text_word(line_t *l, const char *s);
void text_word_P(line_t *l, const char *s_P);
void text_u32(line_t *l, uint32_t v);  // with a leading space
void text_i32(line_t *l, int32_t v);   // with a leading space
/** " @<ms>": the box time a command took effect (ACK of EVT and REWARD). */
void text_at(line_t *l, uint32_t ms);
/** Centidegrees as degrees with two decimals, clamped to +-999.99, with a leading space. */
void text_centideg(line_t *l, int32_t v);
/** Ends the line with "\n" and queues it; `must` waits for room in the transmit ring, otherwise a full ring
 * drops the line. Returns 0 if dropped. */
uint8_t text_send(line_t *l, uint8_t must);

#endif
