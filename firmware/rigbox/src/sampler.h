// Samples eye X, eye Y and the photodiode once per box millisecond: the clock tick starts a chain of three
// conversions (about 104 us each), the ADC interrupt stores each result and starts the next, and the finished
// sample waits in a small queue for the main loop.
#ifndef RIGBOX_SAMPLER_H
#define RIGBOX_SAMPLER_H

#include <stdint.h>

typedef struct {
  uint32_t ms;   // box time of the tick that started the sample
  uint16_t x;    // raw ADC counts, 0..1023
  uint16_t y;
  uint16_t pd;
} sample_t;

void sampler_init(void);
/** Called by the clock tick (interrupt context). */
void sampler_start(uint32_t ms);
/** Takes the oldest finished sample; returns 0 when none is waiting. */
uint8_t sampler_pop(sample_t *out);
/** True when a finished sample is waiting (call with interrupts off before sleeping). */
uint8_t sampler_waiting(void);
/** Samples lost since reset: a tick came while the previous chain ran, or the main loop fell behind. */
uint16_t sampler_lost(void);
/** ADC counts to millivolts at the pin. */
uint16_t sampler_mv(uint16_t counts);

#endif
