"""Run the connector from a checkout: ``python main.py spec|check|discover|read …``."""

from source_kustomer.start import main

if __name__ == "__main__":
    main()
