"""Speech: synthesis with espeak-ng, log-mel and MFCC features in torch, and the spoken data modules."""
