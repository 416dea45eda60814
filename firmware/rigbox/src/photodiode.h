// The photodiode: on when its input rises to the on threshold, off when it falls below the off threshold
// (hysteresis, so a noisy level at the edge does not chatter).
#ifndef RIGBOX_PHOTODIODE_H
#define RIGBOX_PHOTODIODE_H

#include <stdint.h>

/** Thresholds in millivolts at the pin; on must be above off. */
void photodiode_set(uint16_t on_mv, uint16_t off_mv);
/** Feeds one sample (raw ADC counts); returns the new state (0 or 1) on the first sample and on every edge,
 * -1 otherwise. */
int8_t photodiode_update(uint16_t counts);
/** The current state: 0, 1, or -1 before the first sample. */
int8_t photodiode_state(void);

#endif
