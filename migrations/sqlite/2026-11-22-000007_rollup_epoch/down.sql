DROP TABLE rollup_epoch;
