"""Survey waves are dynamic partitions: a new wave folder in the landing area adds one."""

from dagster import DynamicPartitionsDefinition

wave_partitions = DynamicPartitionsDefinition(name="wave")
