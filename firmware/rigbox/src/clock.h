// The box clock: Timer1 ticks once per millisecond; every tick advances the clock, counts down the reward
// valve and starts one sample of the eye and photodiode inputs.
#ifndef RIGBOX_CLOCK_H
#define RIGBOX_CLOCK_H

#include <stdint.h>

void clock_init(void);
/** Milliseconds since reset (wraps after 49 days). Safe to call with interrupts on or off. */
uint32_t clock_ms(void);

#endif
