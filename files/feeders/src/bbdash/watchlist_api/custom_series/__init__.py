"""A person's custom series: write tokens to their own InfluxDB bucket, and its quota.

influx.py talks to InfluxDB as the user bbdash-custom; quota.py is the loop that
measures each bucket and switches its tokens off above the quota.
"""
