"""Where a results document goes: the terminal summary, the HTML report, the Pushgateway, CSV/XLSX export."""
