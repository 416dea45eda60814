// The event word: a 16-bit code goes out as two bytes on the 8 data lines, high byte first, each latched by a
// strobe pulse (STROBE_US high, STROBE_US low), then the lines return to 0. Timer2 times the pulses, so the main
// loop never waits. Codes queue up (4) while a word is going out; the main loop acknowledges each when done.
#ifndef RIGBOX_EVENT_WORD_H
#define RIGBOX_EVENT_WORD_H

#include <stdint.h>

void event_word_init(void);
/** Queues a code; returns 0 when the queue is full. */
uint8_t event_word_queue(uint16_t code);
/** Starts the next queued code when the port is free and the last one was taken. Main loop only. */
void event_word_service(void);
/** Takes the finished code and the box time of its first strobe; returns 0 when none finished. */
uint8_t event_word_done(uint16_t *code, uint32_t *ms);
/** True when a finished code waits to be acknowledged, or one can start (call with interrupts off). */
uint8_t event_word_pending(void);

#endif
