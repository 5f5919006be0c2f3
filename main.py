"""Run the connector from a checkout: ``python main.py spec|check|discover|read …``."""

from source_kustomer.run import run

if __name__ == "__main__":
    run()
