"""The human side: read recordings, detect fixations, map them onto the image,
align them to spoken text and build duration-weighted density maps."""
